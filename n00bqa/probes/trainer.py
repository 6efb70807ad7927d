"""What does the Hugging Face Trainer do in one training step, and what does it decide for me?

Measured on the installed transformers (and the accelerate it runs on), with tiny models built
from configs and the bundled MiniLM tokenizer; nothing is downloaded.

1. The decisions: the numeric defaults of `TrainingArguments()` (learning rate, epochs, batch size,
   AdamW's betas, weight decay, clipping, ...) and the named ones (optimizer, schedule).
2. The collator it picks: `DataCollatorWithPadding` when given a tokenizer (`processing_class`),
   `default_data_collator` otherwise, which cannot stack rows of unequal length.
3. Weight decay: `get_decay_parameter_names` leaves biases and norm weights out.
4. The learning-rate schedule: the factor the scheduler multiplies the learning rate by, per step.
5. `remove_unused_columns`: dataset columns that are no argument of `model.forward` never reach the
   collator (a classic surprise when a custom collator wants the raw text).
6. One training step traced with callbacks and hooks, in order: forward, loss, backward, clipping,
   optimizer step, scheduler step, zero_grad; and the same update recomputed by hand.
7. Gradient accumulation on a causal LM with sequences of unequal length: 1x8, 2x4, 4x2 and 8x1
   give one gradient when the loss is summed over tokens and divided by the whole batch's token
   count (`num_items_in_batch`); the naive mean of per-micro-batch means does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.data import science_questions as science_texts

TOLERANCE = 1e-6  # float32 gradients summed in a different order agree to about 1e-7
TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                 max_position_embeddings=128, num_labels=5,
                 # no dropout: the trace compares the Trainer's step with one done by hand
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
TINY_LLAMA = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, max_position_embeddings=128)
LETTERS = "ABCDE"
SCHEDULE_STEPS_SHOWN = (0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)  # fractions of --schedule-steps


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    schedule_steps: int = field(default=100, metadata={"help": "Training steps of the schedules shown."})
    warmup_steps: int = field(default=10, metadata={
        "help": "Warmup steps of the warmed-up schedules (the installed default has none)."})
    weight_decay: float = field(default=0.01, metadata={
        "help": "Weight decay in the traced step (the installed default is 0), so its grouping matters."})
    accumulation: str = field(default="1x8,2x4,4x2,8x1", metadata={
        "help": "Micro-batch size x accumulation steps layouts of one batch, comma-separated; every product "
                "must be the same (the batch size)."})


def parse_layouts(text: str) -> list[tuple[int, int]]:
    """'1x8,2x4' -> [(1, 8), (2, 4)]: (micro-batch size, accumulation steps)."""
    layouts = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", part)
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise ProbeError(f"--accumulation {text!r}: {part.strip()!r} is not BATCHxSTEPS; use e.g. 1x8,2x4,4x2,8x1")
        layouts.append((int(match[1]), int(match[2])))
    return layouts


def check(opts: Options) -> None:
    check_ranges(opts, {"schedule_steps": (2, 100_000)})
    check_ranges(opts, {"warmup_steps": (0, opts.schedule_steps - 1, "(below --schedule-steps)"),
                        "weight_decay": (0.0, 0.99, "(0.01 is common)")})
    layouts = parse_layouts(opts.accumulation)
    totals = {b * s for b, s in layouts}
    if len(totals) != 1:
        raise ProbeError(f"--accumulation {opts.accumulation!r}: the layouts hold {sorted(totals)} sequences; "
                         "every BATCHxSTEPS must multiply to the same batch size, e.g. 1x8,2x4,4x2,8x1")
    if not 2 <= totals.pop() <= 32:
        raise ProbeError(f"--accumulation {opts.accumulation!r}: the batch must hold 2 to 32 sequences")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class DecayGroups:
    """How get_decay_parameter_names splits one model's parameters."""

    decayed_tensors: int
    decayed_params: int
    not_decayed_tensors: int
    not_decayed_params: int
    not_decayed_biases: int
    not_decayed_norm_weights: int
    not_decayed_names: list[str]


@dataclass
class Event:
    """One thing that happened during trainer.train(), in order."""

    event: str
    seen_by: str  # the callback, hook or method that saw it
    detail: str


@dataclass
class Accumulation:
    """One micro-batch x steps layout of the same batch, against one backward over the whole batch."""

    max_abs_diff: float  # with the Trainer's token normalisation (num_items_in_batch)
    naive_max_abs_diff: float  # mean of per-micro-batch means
    num_items_in_batch: int
    micro_batch_tokens: list[int]  # predicted tokens per micro-batch


@dataclass
class Numbers:
    # 1. the installed TrainingArguments(): every numeric default by field name, and the named ones
    defaults: dict[str, int | float]
    named_defaults: dict[str, str]
    # 2. the collator
    collator_with_tokenizer: str
    collator_without_tokenizer: str
    collated_lengths: list[int]  # token counts of the two rows collated
    padded_length: int  # DataCollatorWithPadding's sequence length for them
    plain_collator_error: str  # what default_data_collator says about the same rows
    # 3. weight decay groups, by model: "bert", "llama"
    decay: dict[str, DecayGroups]
    # 4. lr schedules: schedule -> {step: factor}
    lr_factor: dict[str, dict[str, float]]
    # 5. remove_unused_columns
    dataset_columns: list[str]
    collator_keys_removed: list[str]  # keys of a row reaching the collator, remove_unused_columns=True
    collator_keys_kept: list[str]  # the same with remove_unused_columns=False
    removed_columns: int
    # 6. the traced step
    trace: list[Event]  # in the order they happened
    trace_loss: float
    grad_norm_before_clip: float
    grad_norm_after_clip: float
    max_grad_norm: float
    trace_lr: float  # the learning rate the optimizer step used
    lr_after_step: float
    trainer_step_max_abs_diff: float  # parameters after the Trainer's step vs the step done by hand
    # 7. gradient accumulation, by layout: "2x4" (micro-batch size x accumulation steps)
    sequence_lengths: list[int]
    num_items_in_batch: int  # what the Trainer counted: label tokens that are predicted (shifted)
    accumulation: dict[str, Accumulation]
    grad_accum_max_abs_diff: float
    naive_grad_accum_max_abs_diff: float
    largest_gradient: float  # the largest |entry| of the reference gradient, for scale
    tolerance: float


# The numeric defaults were one `default_<field>` metric each before issue 21; now `defaults.<field>`.
OLD_DEFAULT_FIELDS = (
    "per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps", "learning_rate",
    "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "num_train_epochs", "max_steps",
    "warmup_steps", "label_smoothing_factor", "logging_steps", "save_steps", "eval_delay", "seed",
    "dataloader_num_workers", "ddp_timeout", "local_rank")
NAMED_DEFAULTS = ("optim", "lr_scheduler_type", "eval_strategy", "save_strategy", "logging_strategy",
                  "train_sampling_strategy", "report_to")


# --- 3. measure ---------------------------------------------------------------------------------
def numeric_defaults(args) -> dict[str, int | float]:
    """Every int/float field of a TrainingArguments instance (booleans and None left out)."""
    import dataclasses

    values = {}
    for f in dataclasses.fields(args):
        value = getattr(args, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values[f.name] = value
    return values




def quiet_trainer(trainer):
    """No progress bar and no printed logs: a probe returns its findings, it never prints."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def training_args(output_dir: str, **overrides):
    """TrainingArguments for a probe run: CPU, no saving, no loggers, otherwise the installed defaults."""
    from transformers import TrainingArguments

    settings = dict(output_dir=output_dir, use_cpu=True, report_to="none", save_strategy="no",
                    disable_tqdm=True)
    return TrainingArguments(**{**settings, **overrides})


def measure(opts: Options, ctx: Context) -> Numbers:
    import gc
    import tempfile
    import warnings

    import datasets
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars_were_off = datasets.are_progress_bars_disabled()
    hf_logging.set_verbosity_error()  # "columns ignored" and similar notices: the findings say it as data
    datasets.disable_progress_bars()
    # Every trainer.train() starts with accelerate's free_memory(), a full gc.collect() that walks every
    # object of the imported libraries (about a second each here, nine times). Freezing the objects that
    # exist now moves them out of the collector's sight; only the probe's own new objects are scanned.
    from transformers import BertForSequenceClassification, LlamaForCausalLM, Trainer  # noqa: F401 (imported first)

    gc.freeze()
    try:
        with tempfile.TemporaryDirectory(prefix="n00bqa-trainer-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _measure(opts, ctx, tmp)
    finally:
        gc.unfreeze()
        hf_logging.set_verbosity(verbosity)
        if not bars_were_off:
            datasets.enable_progress_bars()


def _measure(opts: Options, ctx: Context, tmp: str) -> Numbers:
    import datasets
    import torch
    from transformers import (BertConfig, BertForSequenceClassification, LlamaConfig,
                              LlamaForCausalLM, Trainer, TrainingArguments)

    from n00bqa.probes.lib.models import load_tokenizer

    layouts = parse_layouts(opts.accumulation)
    advance = ctx.task("building Trainers on tiny models", 6 + 2 * len(layouts))
    tokenizer = load_tokenizer(None)
    questions = science_texts()

    # -- 1. the installed defaults -----------------------------------------------------------------------
    defaults = TrainingArguments(output_dir=tmp)
    numeric = numeric_defaults(defaults)
    named = {}
    for name in NAMED_DEFAULTS:
        value = getattr(defaults, name, None)
        value = getattr(value, "value", value)  # enums -> their string
        named[name] = ", ".join(value) or "none" if isinstance(value, list) else str(value)
    advance()

    # -- 2. the collator it picks, with and without a tokenizer --------------------------------------------
    torch.manual_seed(ctx.seed)
    bert_config = BertConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id, **TINY_BERT)
    bert = BertForSequenceClassification(bert_config)
    bert_init = {k: v.clone() for k, v in bert.state_dict().items()}
    with_tok = quiet_trainer(Trainer(model=bert, args=training_args(tmp), processing_class=tokenizer))
    without_tok = quiet_trainer(Trainer(model=bert, args=training_args(tmp)))
    rows = [dict(tokenizer(q["prompt"]), label=LETTERS.index(q["answer"])) for q in questions[:2]]
    lengths = [len(r["input_ids"]) for r in rows]
    padded = with_tok.data_collator(rows)  # input_ids (2, longest)
    try:
        without_tok.data_collator(rows)
        default_error = ""
    except (ValueError, RuntimeError) as exc:  # torch.tensor() of ragged lists
        default_error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    collator_name = getattr(without_tok.data_collator, "__name__", type(without_tok.data_collator).__name__)
    advance()

    # -- 3. which parameters are decayed -------------------------------------------------------------------
    llama_config = LlamaConfig(vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id, **TINY_LLAMA)
    torch.manual_seed(ctx.seed)
    llama = LlamaForCausalLM(llama_config)
    decay = {}
    for label, model in (("bert", bert), ("llama", llama)):
        decayed = set(with_tok.get_decay_parameter_names(model))
        params = dict(model.named_parameters())
        rest = [n for n in params if n not in decayed]
        decay[label] = DecayGroups(
            decayed_tensors=len(decayed), decayed_params=sum(params[n].numel() for n in decayed),
            not_decayed_tensors=len(rest), not_decayed_params=sum(params[n].numel() for n in rest),
            not_decayed_biases=sum(n.endswith("bias") for n in rest),
            not_decayed_norm_weights=sum(not n.endswith("bias") for n in rest), not_decayed_names=rest)
    advance()

    # -- 4. the learning-rate schedules: the factor LambdaLR multiplies the learning rate by ---------------
    steps = sorted({round(f * opts.schedule_steps) for f in SCHEDULE_STEPS_SHOWN} | {opts.warmup_steps})
    lr_factor = {}
    for label, kind, warmup in (("linear", "linear", numeric.get("warmup_steps", 0)),  # the installed default
                                ("linear_warmup", "linear", opts.warmup_steps),
                                ("cosine_warmup", "cosine", opts.warmup_steps)):
        trainer = quiet_trainer(Trainer(model=bert, args=training_args(tmp, lr_scheduler_type=kind,
                                                                       warmup_steps=warmup)))
        trainer.create_optimizer_and_scheduler(num_training_steps=opts.schedule_steps)
        lr_lambda = trainer.lr_scheduler.lr_lambdas[0]  # step -> factor
        lr_factor[label] = {str(s): float(lr_lambda(s)) for s in steps}
    advance()

    # -- 5. remove_unused_columns: what reaches the collator ----------------------------------------------
    table = datasets.Dataset.from_list([{**q, **tokenizer(q["prompt"]), "label": LETTERS.index(q["answer"])}
                                        for q in questions[:8]])
    seen_keys: dict[bool, list[str]] = {}
    for remove in (True, False):
        trainer = Trainer(model=bert, args=training_args(tmp, remove_unused_columns=remove), train_dataset=table,
                          processing_class=tokenizer)

        def spy(features, remove=remove, collate=trainer.data_collator):
            seen_keys[remove] = list(features[0])  # a row as the collator receives it
            return collate([{k: f[k] for k in ("input_ids", "token_type_ids", "attention_mask", "label")}
                            for f in features])

        trainer.data_collator = spy
        next(iter(trainer.get_train_dataloader()))
    advance()

    # -- 6. one training step, traced --------------------------------------------------------------------
    trace, facts = trace_one_step(bert_config, bert_init, tokenizer, table, tmp, opts)
    advance()

    # -- 7. gradient accumulation on a causal LM -----------------------------------------------------------
    texts = [f"{q['prompt']} {q[q['answer']]}" for q in questions]
    batch_size = layouts[0][0] * layouts[0][1]
    encoded = [tokenizer(t)["input_ids"] for t in texts[:batch_size]]  # unequal lengths
    llama_init = {k: v.clone() for k, v in llama.state_dict().items()}
    reference = reference_gradient(llama_config, llama_init, tokenizer, encoded)
    largest = max(float(g.abs().max()) for g in reference.values())
    results, counted = {}, 0
    for micro, accum in layouts:
        grads, counted = accumulated_gradient(llama_config, llama_init, tokenizer, encoded, micro, accum, tmp, True)
        advance()
        naive, _ = accumulated_gradient(llama_config, llama_init, tokenizer, encoded, micro, accum, tmp, False)
        advance()
        results[f"{micro}x{accum}"] = Accumulation(
            max_abs_diff=max_diff(grads, reference), naive_max_abs_diff=max_diff(naive, reference),
            num_items_in_batch=counted,
            micro_batch_tokens=[sum(len(ids) - 1 for ids in encoded[i:i + micro]) for i in range(0, batch_size, micro)])

    return Numbers(
        defaults=numeric,
        named_defaults=named,
        collator_with_tokenizer=type(with_tok.data_collator).__name__,
        collator_without_tokenizer=collator_name,
        collated_lengths=lengths,
        padded_length=int(padded["input_ids"].shape[1]),
        plain_collator_error=default_error,
        decay=decay,
        lr_factor=lr_factor,
        dataset_columns=list(table.column_names),
        collator_keys_removed=seen_keys[True],
        collator_keys_kept=seen_keys[False],
        removed_columns=len(seen_keys[False]) - len(seen_keys[True]),
        trace=trace,
        **facts,
        sequence_lengths=[len(ids) for ids in encoded],
        num_items_in_batch=counted,
        accumulation=results,
        grad_accum_max_abs_diff=max(r.max_abs_diff for r in results.values()),
        naive_grad_accum_max_abs_diff=max(r.naive_max_abs_diff for r in results.values()),
        largest_gradient=largest,
        tolerance=TOLERANCE,
    )


def no_decay_by_rule(model) -> set[str]:
    """Our own rule for what AdamW should not decay: every bias, and the weights of norm layers."""
    names = set()
    for module_name, module in model.named_modules():
        for param_name, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if param_name == "bias" or "norm" in type(module).__name__.lower():
                names.add(full)
    return names


def trace_one_step(config, init: dict, tokenizer, table, tmp: str, opts: Options) -> tuple[list[Event], dict]:
    """Run `trainer.train()` for one step with every callback and hook recording, then redo the step by hand.

    Returns:
        (the events in order, facts for Numbers)
    """
    import torch
    from transformers import (BertForSequenceClassification, DataCollatorWithPadding, Trainer, TrainerCallback)

    events: list[Event] = []
    facts: dict[str, float] = {}

    class Recorder(TrainerCallback):
        """Records every callback event the Trainer fires (on_step_begin, on_optimizer_step, ...)."""

    def callback(name):
        def record(self, args, state, control, **kwargs):
            events.append(Event(name, "callback", f"global_step {state.global_step}"))
            if name == "on_pre_optimizer_step":  # after clipping: the gradient the optimizer will use
                grads = [p.grad for p in kwargs["model"].parameters() if p.grad is not None]
                facts["grad_norm_after_clip"] = float(torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        return record

    for name in [n for n in vars(TrainerCallback) if n.startswith("on_")]:
        setattr(Recorder, name, callback(name))

    class TracedTrainer(Trainer):
        """The Trainer with its step methods recording when they run (behaviour unchanged)."""

        def training_step(self, model, inputs, num_items_in_batch=None):
            events.append(Event("training_step", "Trainer method", ", ".join(inputs)))
            return super().training_step(model, inputs, num_items_in_batch)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            events.append(Event("compute_loss", "Trainer method", f"loss {float(result):.4f}"))
            return result

        def _clip_grad_norm(self, model):
            norm = super()._clip_grad_norm(model)  # the total norm before clipping
            facts["grad_norm_before_clip"] = float(norm)
            events.append(Event("clip_grad_norm_", "Trainer method", f"norm {float(norm):.4g} -> at most "
                                                                 f"{self.args.max_grad_norm:g}"))
            return norm

        def create_optimizer(self, model=None):
            optimizer = super().create_optimizer(model)

            def before_step(opt, args, kwargs):
                facts["trace_lr"] = opt.param_groups[0]["lr"]
                events.append(Event("optimizer.step", "optimizer hook", f"{type(opt).__name__} lr {facts['trace_lr']:g}"))

            optimizer.register_step_pre_hook(before_step)
            return optimizer

        def create_scheduler(self, num_training_steps, optimizer=None):
            scheduler = super().create_scheduler(num_training_steps, optimizer)
            step = scheduler.step

            def traced_step(*args, **kwargs):
                step(*args, **kwargs)
                facts["lr_after_step"] = scheduler.get_last_lr()[0]
                events.append(Event("lr_scheduler.step", "scheduler", f"lr now {facts['lr_after_step']:g}"))

            scheduler.step = traced_step  # this instance only
            return scheduler

    model = BertForSequenceClassification(config)
    model.load_state_dict(init)

    def forward_pre(module, args, kwargs):
        events.append(Event("model.forward", "forward pre-hook", ", ".join(kwargs)))

    def forward_post(module, args, kwargs, output):
        facts["trace_loss"] = float(output.loss)
        events.append(Event("loss", "forward hook", f"model output loss {float(output.loss):.4f}"))
        output.loss.register_hook(lambda grad: events.append(Event("backward", "loss grad hook", "d loss / d loss = 1")))

    model.register_forward_pre_hook(forward_pre, with_kwargs=True)
    model.register_forward_hook(forward_post, with_kwargs=True)
    model.bert.embeddings.word_embeddings.weight.register_post_accumulate_grad_hook(
        lambda p: events.append(Event("backward done", "grad hook", "gradient reached the word embeddings")))
    zero_grad = model.zero_grad

    def traced_zero_grad(*args, **kwargs):
        events.append(Event("model.zero_grad", "method", "gradients cleared"))
        return zero_grad(*args, **kwargs)

    model.zero_grad = traced_zero_grad  # this instance only

    rows = table.select_columns(["input_ids", "token_type_ids", "attention_mask", "label"]).select(range(4))
    args = training_args(tmp, per_device_train_batch_size=4, max_steps=1, weight_decay=opts.weight_decay,
                         train_sampling_strategy="sequential", logging_strategy="no")
    trainer = quiet_trainer(TracedTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer,
                                          callbacks=[Recorder()]))
    trainer.train()
    facts["max_grad_norm"] = float(args.max_grad_norm)

    # The same step by hand: forward, mean cross-entropy, backward, clip, AdamW with two groups.
    by_hand = BertForSequenceClassification(config)
    by_hand.load_state_dict(init)
    by_hand.train()
    batch = DataCollatorWithPadding(tokenizer)(list(rows))  # (4, longest), labels (4,)
    loss = by_hand(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(by_hand.parameters(), args.max_grad_norm)
    no_decay = no_decay_by_rule(by_hand)
    groups = [{"params": [p for n, p in by_hand.named_parameters() if n not in no_decay],
               "weight_decay": opts.weight_decay},
              {"params": [p for n, p in by_hand.named_parameters() if n in no_decay], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate, betas=(args.adam_beta1, args.adam_beta2),
                                  eps=args.adam_epsilon, fused=str(args.optim.value).endswith("fused"))
    optimizer.step()
    trained = dict(model.named_parameters())
    facts["trainer_step_max_abs_diff"] = max(float((trained[n] - p).abs().max()) for n, p in by_hand.named_parameters())
    return events, facts


def causal_batch(tokenizer, encoded: list[list[int]]):
    """Pad token lists to the longest; labels are the ids with padding as -100 (the model shifts them)."""
    from transformers import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(tokenizer, mlm=False)([{"input_ids": ids} for ids in encoded])


def reference_gradient(config, init: dict, tokenizer, encoded: list[list[int]]) -> dict:
    """One batch, one backward: mean next-token cross-entropy over every predicted token of the batch."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM(config)
    model.load_state_dict(init)
    batch = causal_batch(tokenizer, encoded)  # input_ids (B, longest), labels (B, longest)
    model(**batch).loss.backward()  # loss = sum over tokens / tokens in the batch
    return {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def accumulated_gradient(config, init: dict, tokenizer, encoded, micro: int, accum: int, tmp: str,
                         token_normalised: bool) -> tuple[dict, int]:
    """The gradient the Trainer hands its optimizer for one update of `micro` x `accum` sequences.

    `token_normalised=False` switches off the `num_items_in_batch` path (as when a model's forward
    takes no loss kwargs): each micro-batch's own mean loss is divided by `accum`, the naive way.

    Returns:
        (gradient by parameter name, num_items_in_batch the Trainer counted (0 if none))
    """
    import datasets
    from transformers import DataCollatorForLanguageModeling, LlamaForCausalLM, Trainer, TrainerCallback

    model = LlamaForCausalLM(config)
    model.load_state_dict(init)
    seen: dict[str, Any] = {}

    class Grab(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            seen["grads"] = {n: p.grad.detach().clone() for n, p in kwargs["model"].named_parameters()}

    class Counting(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            seen["items"] = int(num_items_in_batch) if num_items_in_batch is not None else 0
            return super().training_step(model, inputs, num_items_in_batch)

    args = training_args(tmp, per_device_train_batch_size=micro, gradient_accumulation_steps=accum, max_steps=1,
                         max_grad_norm=0.0,  # no clipping: compare the raw accumulated gradient
                         optim="sgd", train_sampling_strategy="sequential", logging_strategy="no")
    trainer = quiet_trainer(Counting(model=model, args=args, train_dataset=datasets.Dataset.from_dict(
        {"input_ids": encoded}), data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=[Grab()]))
    if not token_normalised:
        trainer.model_accepts_loss_kwargs = False  # the pre-4.46 behaviour: mean per micro-batch / accum
    trainer.train()
    return seen["grads"], seen["items"]


def max_diff(grads: dict, reference: dict) -> float:
    return max(float((grads[n] - g).abs().max()) for n, g in reference.items())


# --- 4. report ----------------------------------------------------------------------------------
def clip_verdict(norm: float, max_norm: float) -> str:
    """'clipped' when the gradient's norm exceeds max_grad_norm (and clipping is on)."""
    if max_norm <= 0:  # max_grad_norm 0 switches clipping off: a setting, nothing to compare
        return "not clipped"
    return verdict(norm, max_norm, "clipped", "not clipped", "max_grad_norm")


def same_verdict(diff: float, tolerance: float) -> str:
    return verdict(diff, tolerance, "NOT the same", "the same", "tolerance")


def report(n: Numbers, opts: Options) -> Report:
    d = SimpleNamespace(**n.defaults)
    bert, llama = n.decay["bert"], n.decay["llama"]
    shown_steps = list(next(iter(n.lr_factor.values())))
    mid = str(round(0.5 * opts.schedule_steps))
    layouts = list(n.accumulation)
    naive_worst = max(layouts, key=lambda k: n.accumulation[k].naive_max_abs_diff)
    naive_best = min(layouts, key=lambda k: n.accumulation[k].naive_max_abs_diff)
    order = [e.event for e in n.trace]
    step_events = [e for e in order if e in ("model.forward", "loss", "backward", "clip_grad_norm_", "optimizer.step",
                                            "lr_scheduler.step", "model.zero_grad")]
    # the step's own order: from the first forward to the zero_grad after the optimizer step
    start = order.index("model.forward")
    in_step = [e for e in order[start:order.index("model.zero_grad", start) + 1] if e in step_events]
    clip = clip_verdict(n.grad_norm_before_clip, n.max_grad_norm)
    naive = same_verdict(n.naive_grad_accum_max_abs_diff, n.tolerance)
    factor = {label: lambda step, _, f=f: round(f[step], 4) for label, f in zip(
        ("linear (default)", f"linear, warmup {opts.warmup_steps}", f"cosine, warmup {opts.warmup_steps}"),
        n.lr_factor.values())}
    tables = [
        Table.of("TrainingArguments() defaults (installed)", {**dict(sorted(n.defaults.items())), **n.named_defaults},
                 {"field": "key", "default": lambda _, value: value}),
        Table.of("Weight decay groups (get_decay_parameter_names)", n.decay, {
            "model": "key", "tensors": lambda _, g: g.decayed_tensors + g.not_decayed_tensors,
            "decayed": "decayed_tensors", "their params": "decayed_params", "not decayed": "not_decayed_tensors",
            "biases": "not_decayed_biases", "norms": "not_decayed_norm_weights"}),
        Table.of(f"Learning-rate factor by step (of {opts.schedule_steps})", dict.fromkeys(shown_steps),
                 {"step": lambda step, _: int(step), **factor}),
        Table.of("One trainer.train() step, in the order it happened", n.trace,
                 {"#": lambda i, _: i + 1, "event": "event", "seen by": "seen_by", "detail": "detail"}),
        Table.of(f"Gradient accumulation: one update of {len(n.sequence_lengths)} sequences", n.accumulation, {
            "batch x steps": "key", "tokens per micro-batch": lambda _, a: " ".join(map(str, a.micro_batch_tokens)),
            "num_items_in_batch": "num_items_in_batch",
            "max |diff| (tokens)": lambda _, a: f"{a.max_abs_diff:.2e}",
            "max |diff| (naive)": lambda _, a: f"{a.naive_max_abs_diff:.2e}"},
            note="diff = against one backward over the whole batch; naive = each micro-batch's mean loss / steps"),
    ]
    findings = [
        f"The installed TrainingArguments() decide: learning rate {d.learning_rate:g} on a "
        f"{n.named_defaults['lr_scheduler_type']} schedule with {d.warmup_steps:g} warmup steps, "
        f"{d.num_train_epochs:g} epochs of {d.per_device_train_batch_size} examples per device, "
        f"optimizer {n.named_defaults['optim']} (betas {d.adam_beta1:g} and {d.adam_beta2:g}, "
        f"eps {d.adam_epsilon:g}, weight decay {d.weight_decay:g}), gradients clipped to norm "
        f"{d.max_grad_norm:g}, seed {d.seed}; {len(n.defaults)} numeric defaults in all.",
        f"Given a tokenizer (processing_class) the Trainer collates with {n.collator_with_tokenizer}: two questions "
        f"of {n.collated_lengths[0]} and {n.collated_lengths[1]} tokens come out padded to {n.padded_length}. "
        f"Without one it uses {n.collator_without_tokenizer}, which only stacks rows"
        + (f" and fails on these: \"{n.plain_collator_error}\"." if n.plain_collator_error
           else " (these rows happened to stack)."),
        f"Weight decay skips biases and norm weights: of the tiny BERT's {bert.decayed_tensors + bert.not_decayed_tensors} "
        f"parameter tensors, {bert.not_decayed_tensors} ({bert.not_decayed_biases} biases, "
        f"{bert.not_decayed_norm_weights} LayerNorm weights; {bert.not_decayed_params:,} parameters) are not "
        f"decayed and {bert.decayed_tensors} ({bert.decayed_params:,} parameters: the embeddings and weight "
        f"matrices) are. The tiny Llama leaves out {llama.not_decayed_biases} biases and "
        f"{llama.not_decayed_norm_weights} RMSNorm weights ("
        + ", ".join(sorted({x.rsplit(".", 2)[-2] for x in llama.not_decayed_names})) + ").",
        f"The schedule multiplies the learning rate by a factor per step: the default linear one falls from "
        f"{n.lr_factor['linear']['0']:g} at step 0 to {n.lr_factor['linear'][mid]:g} at step {mid} and "
        f"{n.lr_factor['linear'][shown_steps[-1]]:g} at step {shown_steps[-1]}; with {opts.warmup_steps} warmup "
        f"steps it starts at {n.lr_factor['linear_warmup']['0']:g}, reaches "
        f"{n.lr_factor['linear_warmup'][str(opts.warmup_steps)]:g} at step {opts.warmup_steps} and then decays; "
        f"cosine is at {n.lr_factor['cosine_warmup'][mid]:.4f} at step {mid} where linear is at "
        f"{n.lr_factor['linear_warmup'][mid]:.4f}.",
        f"remove_unused_columns=True (the default) drops {n.removed_columns} of the dataset's "
        f"{len(n.dataset_columns)} columns before the collator sees a row: only "
        f"{', '.join(n.collator_keys_removed)} arrive, because the others ("
        + ", ".join(k for k in n.collator_keys_kept if k not in n.collator_keys_removed)
        + ") are no argument of BertForSequenceClassification.forward. A collator that needs the raw text must "
          "ask for remove_unused_columns=False.",
        "One training step runs " + " -> ".join(in_step) + f". The loss was {n.trace_loss:.4f}; the gradient norm "
        f"{n.grad_norm_before_clip:.4g} was {clip} at {n.max_grad_norm:g} (after: {n.grad_norm_after_clip:.4g}); "
        f"the optimizer stepped with lr {n.trace_lr:g} and the scheduler then set it to {n.lr_after_step:g} "
        "(this run is max_steps=1 long, so the linear decay ends there).",
        f"The Trainer's step and the same step by hand (forward, mean cross-entropy, backward, clip, AdamW with "
        f"weight decay {opts.weight_decay:g} on all but biases and norms) leave parameters "
        f"{same_verdict(n.trainer_step_max_abs_diff, n.tolerance)} within {n.tolerance:g} "
        f"(largest difference {n.trainer_step_max_abs_diff:.2g}).",
        f"Gradient accumulation: {', '.join(layouts)} give {same_verdict(n.grad_accum_max_abs_diff, n.tolerance)} "
        f"gradient as one backward over the whole batch within {n.tolerance:g} (largest difference "
        f"{n.grad_accum_max_abs_diff:.2g}; largest gradient entry {n.largest_gradient:.3g}), because the Trainer "
        f"counts num_items_in_batch = {n.num_items_in_batch} predicted tokens over all micro-batches and divides "
        f"every micro-batch's summed loss by it.",
        f"The naive mean of per-micro-batch means is {naive}: it is off by up to "
        f"{n.naive_grad_accum_max_abs_diff:.2g} ({naive_worst})"
        + (", since it weights a short micro-batch's tokens more than a long one's" if naive == "NOT the same" else "")
        + f"; {naive_best} is {same_verdict(n.accumulation[naive_best].naive_max_abs_diff, n.tolerance)} "
        f"({n.accumulation[naive_best].naive_max_abs_diff:.2g}), "
        + ("as a single micro-batch's mean is the whole batch's mean." if naive_best.endswith("x1")
           else "its closest layout.")
        + "",
    ]
    return Report(
        summary=f"The Trainer's defaults, collator, decay groups, schedule and one traced step; gradient "
                f"accumulation {', '.join(layouts)} agrees to {n.grad_accum_max_abs_diff:.2g} with token "
                f"normalisation and to {n.naive_grad_accum_max_abs_diff:.2g} without.",
        findings=findings,
        tables=tables,
        model="tiny BERT classifier and tiny Llama (from configs), MiniLM tokenizer",
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="trainer",
    question="trainer-loop",
    title="The Trainer's defaults and decisions, one training step traced, gradient accumulation measured",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    renamed_metrics={f"default_{name}": f"defaults.{name}" for name in OLD_DEFAULT_FIELDS},
    predictions=(
        Prediction("What learning rate does TrainingArguments() use by default?", "defaults.learning_rate", "",
                   scoring="log10"),
        Prediction("Eight sequences of unequal length, accumulated as 1x8: how far (max |diff|) is the naive "
                   "mean-of-means gradient from the true one?", "naive_grad_accum_max_abs_diff", "", scoring="log10"),
    ),
)
