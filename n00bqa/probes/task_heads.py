"""How is one transformer (seq-to-seq or encoder) used for other tasks: multiple choice, question answering,
summarization?

The answer measured here: the body stays the same and a small task "head" is put on top.

1. On the bundled MiniLM (a real pretrained BERT), transformers builds BertForMultipleChoice,
   BertForQuestionAnswering and BertForSequenceClassification from the same checkpoint: the probe
   reports which weights are loaded and which are new (the head), and counts them.
2. Multiple choice, traced by hand on a real question: input (batch, choices, seq) is flattened to
   (batch*choices, seq), each (question, choice) pair is encoded and pooled to one vector, one linear
   layer scores it, and the scores are reshaped to (batch, choices) for a softmax over the choices.
3. The multiple-choice collator: a batch arrives as a list of examples, each with one token list per
   choice, of different lengths; it leaves as a dict of tensors (batch, choices, seq), padded.
4. Extractive QA: one linear layer gives every token a start and an end logit; the answer is the
   best span. Summarization: an encoder-decoder with a language-model head generates new tokens.
5. The multiple-choice head (plus the top layers) is fine-tuned for a few seconds on science-exam
   questions shipped with n00bqa, and held-out accuracy is measured before and after.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table
from n00bqa.probes.lib.data import science_questions as load_questions

LETTERS = "ABCDE"
ALPHA = 0.05  # significance level of the held-out tests
QA_QUESTION = "Which organ pumps blood?"
QA_CONTEXT = ("The heart pumps blood around the body, while the lungs exchange oxygen and carbon dioxide "
              "and the kidneys filter waste from the blood.")
SUMMARY_SOURCE = ("Plants take in carbon dioxide and water and, using the energy of sunlight, turn them into "
                  "sugar and oxygen. This process is called photosynthesis and happens in the leaves.")




def split_questions(seed: int, held_out: int) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """A seeded shuffle: (train, held_out)."""
    questions = load_questions()
    random.Random(seed).shuffle(questions)
    return questions[held_out:], questions[:held_out]


def features(tokenizer, question: dict[str, str]) -> dict[str, Any]:
    """One example as a dataset holds it: for each key, one token list per choice (lengths differ)."""
    enc = tokenizer([question["prompt"]] * len(LETTERS), [question[c] for c in LETTERS])
    return {**{k: v for k, v in enc.items()}, "label": LETTERS.index(question["answer"])}


def collate_multiple_choice(tokenizer, examples: list[dict[str, Any]]) -> dict[str, Any]:
    """list of B examples {key: [choices lists]} -> {key: tensor (B, choices, seq)}, labels (B,).

    Flatten to B*choices sequences, pad them to the longest one of the whole batch, reshape back.
    """
    import torch

    n_choices = len(examples[0]["input_ids"])
    keys = [k for k in examples[0] if k != "label"]
    flat = [{k: ex[k][i] for k in keys} for ex in examples for i in range(n_choices)]  # B*choices dicts
    padded = tokenizer.pad(flat, padding=True, return_tensors="pt")  # each (B*choices, seq)
    batch = {k: v.view(len(examples), n_choices, -1) for k, v in padded.items()}  # (B, choices, seq)
    batch["labels"] = torch.tensor([ex["label"] for ex in examples])  # (B,)
    return batch


@dataclass
class TaskHeadsOptions:
    epochs: int = field(default=4, metadata={"help": "Fine-tuning epochs over the training questions."})
    train_layers: int = field(default=2, metadata={
        "help": "Top encoder layers fine-tuned with the head (0 = head only; the rest stays frozen)."})
    lr: float = field(default=3e-4, metadata={"help": "Learning rate of the unfrozen encoder layers and pooler."})
    head_lr: float = field(default=5e-3, metadata={"help": "Learning rate of the new multiple-choice head."})
    batch_size: int = field(default=8, metadata={"help": "Questions per fine-tuning step."})
    held_out: int = field(default=16, metadata={"help": "Questions kept out of training to measure accuracy."})


def check(opts: TaskHeadsOptions) -> None:
    for name, low, high in (("epochs", 0, 100), ("train_layers", 0, 6), ("batch_size", 1, 64), ("held_out", 1, 40)):
        value = getattr(opts, name)
        if not low <= value <= high:
            raise ProbeError(f"--{name.replace('_', '-')} {value!r} is out of range; use {low}..{high}")
    for name in ("lr", "head_lr"):
        if not getattr(opts, name) > 0:
            raise ProbeError(f"--{name.replace('_', '-')} {getattr(opts, name)!r} must be positive, e.g. 3e-4")


def answers_right(model, tokenizer, questions: list[dict[str, str]]) -> tuple[list[bool], float]:
    """(per question: is the top-scored choice the answer?, mean cross-entropy) of the multiple-choice model."""
    import torch

    model.eval()
    with torch.no_grad():
        batch = collate_multiple_choice(tokenizer, [features(tokenizer, q) for q in questions])
        out = model(**batch)  # logits (B, choices)
    return (out.logits.argmax(-1) == batch["labels"]).tolist(), float(out.loss)


def accuracy(model, tokenizer, questions: list[dict[str, str]]) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the multiple-choice model on `questions`."""
    right, loss = answers_right(model, tokenizer, questions)
    return sum(right) / len(right), loss


def binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed exactly term by term: the one-sided test's p-value."""
    return min(1.0, sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def chance_verdict(p_value: float, alpha: float = ALPHA) -> str:
    """Words for "is held-out accuracy above chance?", from the one-sided binomial test's p-value."""
    if p_value < alpha:
        return f"better than chance at p = {p_value:.2g} (< {alpha:g})"
    return f"not distinguishable from chance (p = {p_value:.2g}, not below {alpha:g})"


def change_verdict(p_value: float, alpha: float = ALPHA) -> str:
    """Words for "did fine-tuning change which held-out questions are right?", from the sign test."""
    if p_value < alpha:
        return f"a gain distinguishable from no change (sign test p = {p_value:.2g} < {alpha:g})"
    return f"not distinguishable from no change (sign test p = {p_value:.2g}, not below {alpha:g})"


@dataclass
class Numbers:
    """What the task-heads probe measures; numeric fields are the `--json` metrics."""

    # 1. one checkpoint, three heads
    hidden: int
    mc_head_params: int
    mc_new_params: int
    qa_head_params: int
    qa_new_params: int
    seqcls_new_params: int
    mc_pretrained_params: int  # the multiple-choice model's weights that come from the checkpoint
    pooler_loaded: bool
    mc_new_keys: list[str]
    head_rows: list[list[Any]]
    # 2. multiple choice traced by hand
    mc_logits_max_diff: float
    trace_question: str
    trace_shapes: dict[str, str]  # report-only (strings): input_ids, flattened, pooled, scores, logits
    trace_rows: list[list[Any]]
    # 3. the collator
    collator_examples: int
    collator_shortest_choice: int  # tokens of the shortest (question, choice) pair before padding
    collator_longest_choice: int
    collator_first_lengths: list[int]  # example 1's five lengths before padding
    collator_padded_length: int
    collator_pad_tokens: int
    collator_matches_hf: bool
    collator_batch_shape: str
    collator_rows: list[list[Any]]
    layout_rows: list[list[Any]]
    # 4. extractive QA and summarization
    qa_tokens: int  # [CLS] question [SEP] context [SEP]
    qa_logits_shape: str
    qa_answer: str
    summary_vocab: int
    summary_lm_head_tied: bool
    summary_memory_shape: str
    summary_logits_shape: str
    summary_rows: list[list[Any]]
    # 5. fine-tuning
    n_choices: int
    train_layers: int
    trainable_params: int
    train_questions: int
    held_out_questions: int
    chance_accuracy: float  # 1 / n_choices
    accuracy_before: float
    accuracy_after: float
    accuracy_change: float
    one_question_share: float  # 1 / held-out questions: the smallest step accuracy can take
    # the held-out tests: after fine-tuning against chance (one-sided exact binomial), and the change (sign test)
    alpha: float  # significance level of both tests
    heldout_correct: int
    heldout_total: int
    heldout_p_value: float  # P(X >= heldout_correct), X ~ Binomial(heldout_total, 1 / n_choices)
    heldout_correct_before: int
    heldout_p_value_before: float
    newly_right: int  # held-out questions right after fine-tuning and wrong before
    newly_wrong: int  # ... and the other way round
    change_p_value: float  # P(X >= newly_right), X ~ Binomial(newly_right + newly_wrong, 1/2)
    train_accuracy_before: float
    train_accuracy_after: float
    loss_before: float
    train_loss_first_epoch: float
    train_loss_last_epoch: float
    train_seconds: float
    epoch_rows: list[list[Any]]
    model_name: str = ""


def measure(opts: TaskHeadsOptions, ctx: Context) -> Numbers:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar would mix into the probe's own output
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the load report below says the same thing, as data
    try:
        return _measure(opts, ctx)
    finally:
        hf_logging.set_verbosity(verbosity)


def _measure(opts: TaskHeadsOptions, ctx: Context) -> Numbers:
    import torch
    from transformers import (BartConfig, BartForConditionalGeneration, BertForMultipleChoice,
                              BertForQuestionAnswering, BertForSequenceClassification, DataCollatorWithPadding)

    from n00bqa.probes.lib.models import BUNDLED_NAME, load_tokenizer, resolve_model_dir

    torch.manual_seed(ctx.seed)
    tokenizer = load_tokenizer(None)
    folder = str(resolve_model_dir(None))
    train_set, test_set = split_questions(ctx.seed, opts.held_out)
    steps_per_epoch = -(-len(train_set) // opts.batch_size)
    advance = ctx.task("building heads and fine-tuning", 4 + opts.epochs * steps_per_epoch)

    # -- 1. one checkpoint, three heads: what is loaded, what is new --------------------------------------
    heads: dict[str, Any] = {}
    head_rows = []
    for label, cls, head_names in (("multiple choice", BertForMultipleChoice, ["classifier"]),
                                   ("question answering", BertForQuestionAnswering, ["qa_outputs"]),
                                   ("sequence classification (3 labels)", BertForSequenceClassification,
                                    ["classifier"])):
        kwargs = {"num_labels": 3} if cls is BertForSequenceClassification else {}
        model, info = cls.from_pretrained(folder, local_files_only=True, output_loading_info=True, **kwargs)
        model.eval()
        params = dict(model.named_parameters())
        new = sorted(info["missing_keys"])
        new_count = sum(params[k].numel() for k in new if k in params)
        head_count = sum(p.numel() for n in head_names for p in getattr(model, n).parameters())
        has_pooler = getattr(model.bert, "pooler", None) is not None
        heads[label] = {"model": model, "new": new, "new_count": new_count, "head_count": head_count,
                        "total": sum(p.numel() for p in model.parameters()), "pooler": has_pooler}
        new_modules = sorted({k.rsplit(".", 1)[0] for k in new})  # classifier.weight, classifier.bias -> classifier
        head_rows.append([cls.__name__.removeprefix("BertFor"), ", ".join(new_modules) or "none", new_count,
                          "yes" if has_pooler else "no", heads[label]["total"] - new_count])
        advance(1)
    mc = heads["multiple choice"]["model"]
    qa = heads["question answering"]["model"]
    hidden = mc.config.hidden_size

    # -- 2. multiple choice, traced by hand on one real question ------------------------------------------
    q = test_set[0]
    example = collate_multiple_choice(tokenizer, [features(tokenizer, q)])
    input_ids = example["input_ids"]  # (1, 5, T)
    B, C, T = input_ids.shape
    with torch.no_grad():
        flat = {k: v.view(-1, v.shape[-1]) for k, v in example.items() if k != "labels"}  # (B*C, T)
        encoded = mc.bert(**flat)
        tokens = encoded.last_hidden_state  # (B*C, T, hidden)
        pooled = encoded.pooler_output  # (B*C, hidden): tanh(W [CLS] + b)
        scores = mc.classifier(mc.dropout(pooled))  # (B*C, hidden) @ (hidden, 1) -> (B*C, 1)
        logits = scores.view(-1, C)  # (B*C, 1) -> (B, C)
        probs = logits.softmax(-1)  # (B, C), sums to 1 over the choices
        loss = torch.nn.functional.cross_entropy(logits, example["labels"])
        model_out = mc(**example)  # the library's own forward, for comparison
    mc_diff = float((model_out.logits - logits).abs().max())
    trace_shapes = {"input_ids": str(tuple(input_ids.shape)), "flattened": str(tuple(flat["input_ids"].shape)),
                    "pooled": str(tuple(pooled.shape)), "scores": str(tuple(scores.shape)),
                    "logits": str(tuple(logits.shape))}
    trace_rows = [
        ["input_ids", trace_shapes["input_ids"], "(batch, num_choices, seq): one question, 5 (question, choice) pairs"],
        ["flattened", trace_shapes["flattened"], "(batch*num_choices, seq): the encoder sees 5 sequences"],
        ["last_hidden_state", str(tuple(tokens.shape)), "(batch*num_choices, seq, hidden)"],
        ["pooled [CLS]", trace_shapes["pooled"], "(batch*num_choices, hidden): dense + tanh on the first token"],
        ["classifier", trace_shapes["scores"], f"Linear({hidden}, 1): one score per pair"],
        ["logits", trace_shapes["logits"], "(batch, num_choices): view(-1, num_choices)"],
        ["softmax", " ".join(f"{p:.3f}" for p in probs[0].tolist()), "probabilities over A-E (untrained head)"],
        ["cross-entropy", f"{float(loss):.4f}", f"vs ln(5) = {torch.log(torch.tensor(5.0)):.4f} for a uniform guess"],
    ]

    # -- 3. the collator: list of examples -> dict of tensors ----------------------------------------------
    examples = [features(tokenizer, x) for x in train_set[:2]]
    batch = collate_multiple_choice(tokenizer, examples)
    seq = batch["input_ids"].shape[-1]
    collator_rows = []
    for b, ex in enumerate(examples):
        for i, ids in enumerate(ex["input_ids"]):
            collator_rows.append([f"example {b + 1} {LETTERS[i]}: {train_set[b][LETTERS[i]]}", len(ids), seq,
                                  int((batch["attention_mask"][b, i] == 0).sum())])
    # transformers' own padding collator on the flattened batch gives the same tensors
    reference = DataCollatorWithPadding(tokenizer)(
        [{k: ex[k][i] for k in ex if k != "label"} for ex in examples for i in range(C)])
    layout_rows = [
        ["before", f"list of {len(examples)} dicts", ", ".join(k for k in examples[0]),
         f"input_ids: {C} lists of lengths {[len(x) for x in examples[0]['input_ids']]} (example 1)"],
        ["after", "dict of tensors", ", ".join(batch),
         "; ".join(f"{k}: {tuple(v.shape)}" for k, v in batch.items())],
    ]
    advance(1)

    # -- 4. extractive QA and summarization -----------------------------------------------------------------
    qa_in = tokenizer(QA_QUESTION, QA_CONTEXT, return_tensors="pt")  # [CLS] question [SEP] context [SEP]
    with torch.no_grad():
        qa_out = qa(**qa_in)  # start_logits, end_logits: (1, T) each, from Linear(hidden, 2) split in two
    context_positions = (qa_in["token_type_ids"][0] == 1).nonzero().flatten().tolist()[:-1]  # no final [SEP]
    best, span = float("-inf"), (0, 0)
    for s in context_positions:  # best start <= end within 15 tokens, both in the context
        for e in context_positions:
            if s <= e < s + 15:
                score = float(qa_out.start_logits[0, s] + qa_out.end_logits[0, e])
                if score > best:
                    best, span = score, (s, e)
    qa_answer = tokenizer.decode(qa_in["input_ids"][0, span[0]:span[1] + 1])

    bart_config = BartConfig(vocab_size=tokenizer.vocab_size, d_model=64, encoder_layers=2, decoder_layers=2,
                             encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                             decoder_ffn_dim=128, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                             bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                             decoder_start_token_id=tokenizer.sep_token_id, forced_eos_token_id=None)
    bart = BartForConditionalGeneration(bart_config).eval()  # random weights: the mechanics, not a summary
    src = tokenizer(SUMMARY_SOURCE, return_tensors="pt")
    src = {"input_ids": src["input_ids"], "attention_mask": src["attention_mask"]}
    with torch.no_grad():
        memory = bart.get_encoder()(**src).last_hidden_state  # (1, S, d_model)
        start = torch.tensor([[bart_config.decoder_start_token_id]])
        bart_logits = bart(**src, decoder_input_ids=start).logits  # (1, 1, vocab): lm_head(decoder state)
        generated = bart.generate(**src, max_new_tokens=8, do_sample=False, num_beams=1)
    tied = bart.lm_head.weight.data_ptr() == bart.model.shared.weight.data_ptr()
    summary_rows = [
        ["source ids", str(tuple(src["input_ids"].shape)), "the text to summarise, tokenized"],
        ["encoder memory", str(tuple(memory.shape)), "(1, S, d_model), read by every decoder step via cross-attention"],
        ["lm_head logits (first step)", str(tuple(bart_logits.shape)), "(1, t, vocab): a distribution over the next token"],
        ["lm_head weight", str(tuple(bart.lm_head.weight.shape)),
         f"tied to the input embedding: {'yes' if tied else 'no'}"],
        ["generated ids", str(tuple(generated.shape)), "greedy generate(), 8 new tokens at most"],
    ]
    advance(1)

    # -- 5. fine-tune the multiple-choice head (and the top layers) --------------------------------------------
    right_before, before_loss = answers_right(mc, tokenizer, test_set)
    before_test = sum(right_before) / len(test_set)
    before_train, _ = accuracy(mc, tokenizer, train_set)
    for p in mc.parameters():
        p.requires_grad = False
    body = [p for layer in mc.bert.encoder.layer[len(mc.bert.encoder.layer) - opts.train_layers:]
            for p in layer.parameters()] if opts.train_layers else []
    if opts.train_layers:
        body += list(mc.bert.pooler.parameters())
    head = list(mc.classifier.parameters())
    for p in body + head:
        p.requires_grad = True
    groups = [{"params": head, "lr": opts.head_lr}] + ([{"params": body, "lr": opts.lr}] if body else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    rng = random.Random(ctx.seed)
    epoch_rows = []
    start_time = time.perf_counter()
    for epoch in range(1, opts.epochs + 1):
        mc.train()
        order = list(train_set)
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), opts.batch_size):
            batch_i = collate_multiple_choice(tokenizer, [features(tokenizer, x) for x in order[i:i + opts.batch_size]])
            out = mc(**batch_i)  # logits (b, 5); loss = cross-entropy over the 5 choices
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            losses.append(out.loss.item())
            advance(1)
        test_acc, test_loss = accuracy(mc, tokenizer, test_set)
        epoch_rows.append([epoch, round(sum(losses) / len(losses), 4), round(test_loss, 4), round(test_acc, 3)])
    train_seconds = time.perf_counter() - start_time
    right_after, _ = answers_right(mc, tokenizer, test_set)
    after_test = sum(right_after) / len(test_set)
    newly_right = sum(a and not b for a, b in zip(right_after, right_before))
    newly_wrong = sum(b and not a for a, b in zip(right_after, right_before))
    after_train, _ = accuracy(mc, tokenizer, train_set)

    h_mc, h_qa, h_sc = heads["multiple choice"], heads["question answering"], heads["sequence classification (3 labels)"]
    return Numbers(
        hidden=hidden, mc_head_params=h_mc["head_count"], mc_new_params=h_mc["new_count"],
        qa_head_params=h_qa["head_count"], qa_new_params=h_qa["new_count"], seqcls_new_params=h_sc["new_count"],
        mc_pretrained_params=h_mc["total"] - h_mc["new_count"],
        pooler_loaded=not any("pooler" in k for k in h_mc["new"]), mc_new_keys=h_mc["new"], head_rows=head_rows,
        mc_logits_max_diff=mc_diff, trace_question=q["prompt"], trace_shapes=trace_shapes, trace_rows=trace_rows,
        collator_examples=len(examples), collator_shortest_choice=min(r[1] for r in collator_rows),
        collator_longest_choice=max(r[1] for r in collator_rows),
        collator_first_lengths=[len(x) for x in examples[0]["input_ids"]], collator_padded_length=seq,
        collator_pad_tokens=int((batch["attention_mask"] == 0).sum()),
        collator_matches_hf=bool(torch.equal(reference["input_ids"].view(len(examples), C, -1), batch["input_ids"])),
        collator_batch_shape=str(tuple(batch["input_ids"].shape)), collator_rows=collator_rows,
        layout_rows=layout_rows,
        qa_tokens=int(qa_in["input_ids"].shape[1]), qa_logits_shape=str(tuple(qa_out.start_logits.shape)),
        qa_answer=qa_answer,
        summary_vocab=tokenizer.vocab_size, summary_lm_head_tied=tied, summary_memory_shape=str(tuple(memory.shape)),
        summary_logits_shape=str(tuple(bart_logits.shape)), summary_rows=summary_rows,
        n_choices=C, train_layers=opts.train_layers, trainable_params=sum(p.numel() for p in body + head),
        train_questions=len(train_set), held_out_questions=len(test_set),
        chance_accuracy=1 / C, accuracy_before=round(before_test, 4), accuracy_after=round(after_test, 4),
        accuracy_change=round(after_test - before_test, 4), one_question_share=1 / len(test_set),
        alpha=ALPHA, heldout_correct=sum(right_after), heldout_total=len(test_set),
        heldout_p_value=binomial_tail(sum(right_after), len(test_set), 1 / C),
        heldout_correct_before=sum(right_before),
        heldout_p_value_before=binomial_tail(sum(right_before), len(test_set), 1 / C),
        newly_right=newly_right, newly_wrong=newly_wrong,
        change_p_value=binomial_tail(newly_right, newly_right + newly_wrong, 0.5),
        train_accuracy_before=round(before_train, 4), train_accuracy_after=round(after_train, 4),
        loss_before=before_loss,
        train_loss_first_epoch=epoch_rows[0][1] if epoch_rows else 0.0,
        train_loss_last_epoch=epoch_rows[-1][1] if epoch_rows else 0.0,
        train_seconds=round(train_seconds, 2), epoch_rows=epoch_rows, model_name=BUNDLED_NAME,
    )


def report(n: Numbers, opts: TaskHeadsOptions) -> Report:
    findings = [
        f"From one MiniLM checkpoint, transformers builds three task models; only the head is new: multiple choice "
        f"adds {n.mc_new_params} weights ({', '.join(n.mc_new_keys)}: {n.hidden}x1 + 1), QA adds {n.qa_new_params} "
        f"({n.hidden}x2 + 2, start and end), 3-label classification adds {n.seqcls_new_params} ({n.hidden}x3 + 3); "
        f"the pooler is {'in the checkpoint and loaded' if n.pooler_loaded else 'new'}, "
        f"so the other {n.mc_pretrained_params:,} weights are pretrained.",
        f"Multiple choice: input_ids {n.trace_shapes['input_ids']} is viewed as {n.trace_shapes['flattened']}, "
        f"encoded and pooled to {n.trace_shapes['pooled']}, scored by Linear({n.hidden}, 1) to "
        f"{n.trace_shapes['scores']} and viewed as logits {n.trace_shapes['logits']}; the hand-traced logits match "
        f"the model's own forward (max difference {n.mc_logits_max_diff:.1e}).",
        f"The collator turns a list of {n.collator_examples} examples, each with {n.n_choices} token lists "
        f"(example 1: lengths {', '.join(map(str, n.collator_first_lengths))}; the batch's pairs run from "
        f"{n.collator_shortest_choice} to {n.collator_longest_choice} tokens), into a dict of tensors "
        f"{n.collator_batch_shape}: every choice is padded to {n.collator_padded_length} tokens"
        + (" (the batch's longest)" if n.collator_padded_length == n.collator_longest_choice else "")
        + f", {n.collator_pad_tokens} pad tokens added; it equals DataCollatorWithPadding on the flattened "
        f"choices: {'yes' if n.collator_matches_hf else 'no'}.",
        f"Extractive QA: start and end logits of shape {n.qa_logits_shape} score every token; the "
        f"best span in the context is {n.qa_answer!r} — arbitrary, because the QA head is untrained.",
        f"Summarization is encoder-decoder generation: a tiny BART (random weights, built from a config) reads memory "
        f"{n.summary_memory_shape} and its LM head gives logits {n.summary_logits_shape} per step over the "
        f"{n.summary_vocab:,}-token vocabulary (its weight is tied to the embedding: "
        f"{'yes' if n.summary_lm_head_tied else 'no'}).",
        (f"Fine-tuning the head{f' and top {opts.train_layers} layers' if opts.train_layers else ''} "
         f"({n.trainable_params:,} weights) for {opts.epochs} epochs on {n.train_questions} questions took "
         f"{n.train_seconds:.1f} s: training accuracy {n.train_accuracy_before:.0%} -> "
         f"{n.train_accuracy_after:.0%}, held-out accuracy {n.accuracy_before:.0%} -> {n.accuracy_after:.0%}. "
         if opts.epochs else
         f"No fine-tuning (--epochs 0): the head is as initialised, training accuracy {n.train_accuracy_after:.0%}. ")
        + f"On the {n.heldout_total} held-out questions the model is right on {n.heldout_correct} "
        f"({n.accuracy_after:.0%}); guessing among {n.n_choices} choices gets each right with probability "
        f"{n.chance_accuracy:g}, and a one-sided exact binomial test of {n.heldout_correct} or more right finds it "
        f"{chance_verdict(n.heldout_p_value, n.alpha)}."
        + (f" Fine-tuning made {n.newly_right} held-out questions right and {n.newly_wrong} wrong: "
           f"{change_verdict(n.change_p_value, n.alpha)}." if opts.epochs else ""),
    ]
    tables = [
        Table("One checkpoint, three heads: BertFor<task>", ["task", "new (random)", "new params", "pooler",
                                                            "loaded"], n.head_rows,
              note="sequence classification built with num_labels=3; the pooler, when used, is loaded from the "
                   "checkpoint; QA scores every token, so it has no pooler"),
        Table(f"Multiple choice, traced by hand: '{n.trace_question}'", ["step", "shape / value", "meaning"],
              n.trace_rows),
        Table("The collator: per-choice lengths before and after padding",
              ["(question, choice) pair", "tokens before", "tokens after", "pad added"], n.collator_rows),
        Table("The collator: layout change", ["", "type", "keys", "shapes"], n.layout_rows),
        Table("Summarization head (tiny BART, random weights)", ["tensor", "shape", "meaning"], n.summary_rows),
        Table("Fine-tuning the multiple-choice head", ["epoch", "mean train loss", "held-out loss",
                                                     "held-out accuracy"],
              [[0, "-", round(n.loss_before, 4), round(n.accuracy_before, 3)], *n.epoch_rows],
              note=f"{n.train_questions} training / {n.held_out_questions} held-out questions, {n.n_choices} "
                   f"choices each; chance = {n.chance_accuracy:g}; before fine-tuning {n.heldout_correct_before} of "
                   f"{n.heldout_total} held-out right (binomial p = {n.heldout_p_value_before:.2g})"),
    ]
    summary = (f"One pretrained body, small new heads: {n.mc_new_params} new weights turn MiniLM into a "
               f"multiple-choice model, {n.qa_new_params} into an extractive QA model; "
               + (f"after {opts.epochs} epochs of fine-tuning" if opts.epochs else "without fine-tuning")
               + f" it answers {n.heldout_correct} of {n.heldout_total} held-out questions: "
               f"{chance_verdict(n.heldout_p_value, n.alpha)}.")
    return Report(summary, findings, tables, model=n.model_name)


PROBE = Probe(
    name="task-heads",
    question="task-heads",
    title="One body, many heads: multiple choice, QA, classification on MiniLM; the MC collator; fine-tuning",
    options=TaskHeadsOptions,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a tiny model: one thread is faster than two (see Probe.threads)
    predictions=(
        Prediction("How many new weights does a multiple-choice head add to MiniLM (hidden size 384)?",
                   "mc_new_params", "parameters"),
        Prediction("And an extractive-QA head (start and end logits)?", "qa_new_params", "parameters"),
    ),
)
