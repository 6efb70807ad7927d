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
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.data import science_questions as load_questions

LETTERS = "ABCDE"
ALPHA = 0.05  # significance level of the held-out tests
TOLERANCE = 1e-5  # float32 logits by hand and by the model's forward agree to about this
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
    for name, low, high in (("epochs", 0, 10), ("train_layers", 0, 6), ("batch_size", 1, 64), ("held_out", 1, 40)):
        value = getattr(opts, name)
        if not low <= value <= high:
            raise ProbeError(f"--{name.replace('_', '-')} {value!r} is out of range; use {low}..{high}")
    for name in ("lr", "head_lr"):
        if not getattr(opts, name) > 0:
            raise ProbeError(f"--{name.replace('_', '-')} {getattr(opts, name)!r} must be positive, e.g. 3e-4")
    check_ranges(opts, {"epochs": (0, 10), "train_layers": (0, 6), "batch_size": (1, 64), "held_out": (1, 40),
                        "lr": (1e-6, 0.01), "head_lr": (1e-5, 0.1)})


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
    return verdict(p_value, alpha, f"not distinguishable from chance (p = {p_value:.2g}, not below {alpha:g})",
                   f"better than chance at p = {p_value:.2g} (< {alpha:g})", "alpha")


def change_verdict(p_value: float, alpha: float = ALPHA) -> str:
    """Words for "did fine-tuning change which held-out questions are right?", from the sign test."""
    return verdict(p_value, alpha, f"not distinguishable from no change (sign test p = {p_value:.2g}, not below "
                   f"{alpha:g})", f"a gain distinguishable from no change (sign test p = {p_value:.2g} < {alpha:g})",
                   "alpha")


# --- Numbers ------------------------------------------------------------------------------------
@dataclass
class Head:
    """One BertFor<task> model built from the MiniLM checkpoint."""

    new_modules: str  # the modules not in the checkpoint, e.g. "classifier"
    new_params: int  # their weights: random at load
    head_params: int  # the weights of the task head module(s)
    pooler: bool  # does this model use the pooler (dense + tanh on [CLS])?
    loaded: int  # the weights read from the checkpoint
    new_keys: list[str]  # the new weights' names (report only)


@dataclass
class Step:
    """One step of the multiple-choice forward, traced by hand."""

    step: str
    shape: str
    meaning: str


@dataclass
class Pair:
    """One (question, choice) pair of the collated batch."""

    pair: str
    tokens_before: int
    tokens_after: int
    pad_added: int


@dataclass
class Epoch:
    epoch: int
    train_loss: float  # mean over the epoch's steps
    heldout_loss: float
    heldout_accuracy: float


@dataclass
class Numbers:
    """What the task-heads probe measures; numeric fields are the `--json` metrics."""

    # 1. one checkpoint, three heads, keyed by task: MultipleChoice, QuestionAnswering, SequenceClassification
    hidden: int
    heads: dict[str, Head]
    pooler_loaded: bool
    # 2. multiple choice traced by hand
    mc_logits_max_diff: float
    tolerance: float  # of "the hand-traced logits match"
    trace_question: str
    trace: list[Step]
    # 3. the collator
    collator_examples: int
    collator_shortest_choice: int  # tokens of the shortest (question, choice) pair before padding
    collator_longest_choice: int
    collator_first_lengths: list[int]  # example 1's five lengths before padding
    collator_padded_length: int
    collator_pad_tokens: int
    collator_matches_hf: bool
    collator_entries_differing: int  # input_ids entries where ours and DataCollatorWithPadding's differ
    collator_batch_shape: str
    collator_pairs: list[Pair]
    collator_keys_before: str
    collator_shapes_after: dict[str, str]  # key -> tensor shape
    # 4. extractive QA and summarization
    qa_tokens: int  # [CLS] question [SEP] context [SEP]
    qa_logits_shape: str
    qa_answer: str
    summary_vocab: int
    summary_lm_head_tied: bool
    summary_steps: list[Step]
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
    epochs: list[Epoch]
    model_name: str = ""


# --- measure: the steps in the order of the explanation -----------------------------------------
def measure(opts: TaskHeadsOptions, ctx: Context) -> Numbers:
    import torch

    from n00bqa.probes.lib.models import BUNDLED_NAME, load_tokenizer

    torch.manual_seed(ctx.seed)
    tokenizer = load_tokenizer(None)
    train_set, test_set = split_questions(ctx.seed, opts.held_out)
    steps_per_epoch = -(-len(train_set) // opts.batch_size)
    advance = ctx.task("building heads and fine-tuning", 4 + opts.epochs * steps_per_epoch)

    models, heads = build_heads(advance)
    mc, qa = models["MultipleChoice"], models["QuestionAnswering"]
    trace = trace_multiple_choice(mc, tokenizer, test_set[0])
    collator = collate_two_examples(tokenizer, train_set[:2])
    advance(1)
    qa_span = extractive_qa(qa, tokenizer)
    summary = summarization(tokenizer)
    advance(1)
    tuning = fine_tune(mc, tokenizer, train_set, test_set, opts, ctx.seed, advance)
    return Numbers(hidden=mc.config.hidden_size, heads=heads,
                   pooler_loaded=not any("pooler" in k for k in heads["MultipleChoice"].new_keys),
                   **trace, **collator, **qa_span, **summary, **tuning, model_name=BUNDLED_NAME)


def build_heads(advance) -> tuple[dict[str, Any], dict[str, Head]]:
    """1. One checkpoint, three heads: what each BertFor<task> loads and what it adds (random)."""
    from transformers import BertForMultipleChoice, BertForQuestionAnswering, BertForSequenceClassification

    from n00bqa.probes.lib.models import load_task_model

    models, heads = {}, {}
    for cls, head_names, kwargs in ((BertForMultipleChoice, ["classifier"], {}),
                                    (BertForQuestionAnswering, ["qa_outputs"], {}),
                                    (BertForSequenceClassification, ["classifier"], {"num_labels": 3})):
        model, new = load_task_model(cls, None, **kwargs)  # new: classifier.weight, classifier.bias
        params = dict(model.named_parameters())
        new_count = sum(params[k].numel() for k in new if k in params)
        task = cls.__name__.removeprefix("BertFor")
        models[task] = model
        heads[task] = Head(
            new_modules=", ".join(sorted({k.rsplit(".", 1)[0] for k in new})) or "none",  # -> classifier
            new_params=new_count,
            head_params=sum(p.numel() for n in head_names for p in getattr(model, n).parameters()),
            pooler=getattr(model.bert, "pooler", None) is not None,
            loaded=sum(p.numel() for p in model.parameters()) - new_count,
            new_keys=new,
        )
        advance(1)
    return models, heads


def trace_multiple_choice(mc, tokenizer, question: dict[str, str]) -> dict[str, Any]:
    """2. The multiple-choice forward by hand on one real question, against the model's own forward."""
    import torch

    example = collate_multiple_choice(tokenizer, [features(tokenizer, question)])
    input_ids = example["input_ids"]  # (1, 5, T)
    C = input_ids.shape[1]
    hidden = mc.config.hidden_size
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
    shape = lambda t: str(tuple(t.shape))  # noqa: E731
    trace = [
        Step("input_ids", shape(input_ids), "(batch, num_choices, seq): one question, 5 (question, choice) pairs"),
        Step("flattened", shape(flat["input_ids"]), "(batch*num_choices, seq): the encoder sees 5 sequences"),
        Step("last_hidden_state", shape(tokens), "(batch*num_choices, seq, hidden)"),
        Step("pooled [CLS]", shape(pooled), "(batch*num_choices, hidden): dense + tanh on the first token"),
        Step("classifier", shape(scores), f"Linear({hidden}, 1): one score per pair"),
        Step("logits", shape(logits), "(batch, num_choices): view(-1, num_choices)"),
        Step("softmax", " ".join(f"{p:.3f}" for p in probs[0].tolist()), "probabilities over A-E (untrained head)"),
        Step("cross-entropy", f"{float(loss):.4f}", f"vs ln(5) = {math.log(5):.4f} for a uniform guess"),
    ]
    return {"mc_logits_max_diff": float((model_out.logits - logits).abs().max()), "tolerance": TOLERANCE,
            "trace_question": question["prompt"], "trace": trace}


def collate_two_examples(tokenizer, questions: list[dict[str, str]]) -> dict[str, Any]:
    """3. The collator on two training questions: a list of examples -> a dict of padded tensors."""
    import torch
    from transformers import DataCollatorWithPadding

    examples = [features(tokenizer, x) for x in questions]
    batch = collate_multiple_choice(tokenizer, examples)  # (B, C, seq) each
    B, C, seq = batch["input_ids"].shape
    pairs = [Pair(f"example {b + 1} {LETTERS[i]}: {questions[b][LETTERS[i]]}", len(ids), seq,
                  int((batch["attention_mask"][b, i] == 0).sum()))
             for b, ex in enumerate(examples) for i, ids in enumerate(ex["input_ids"])]
    # transformers' own padding collator on the flattened batch gives the same tensors
    reference = DataCollatorWithPadding(tokenizer)(
        [{k: ex[k][i] for k in ex if k != "label"} for ex in examples for i in range(C)])
    return {
        "collator_examples": B,
        "collator_shortest_choice": min(p.tokens_before for p in pairs),
        "collator_longest_choice": max(p.tokens_before for p in pairs),
        "collator_first_lengths": [len(x) for x in examples[0]["input_ids"]],
        "collator_padded_length": seq,
        "collator_pad_tokens": int((batch["attention_mask"] == 0).sum()),
        "collator_matches_hf": bool(torch.equal(reference["input_ids"].view(B, C, -1), batch["input_ids"])),
        "collator_entries_differing": (int((reference["input_ids"].view(B, C, -1) != batch["input_ids"]).sum())
                                       if reference["input_ids"].numel() == batch["input_ids"].numel()
                                       else max(reference["input_ids"].numel(), batch["input_ids"].numel())),
        "collator_batch_shape": str(tuple(batch["input_ids"].shape)),
        "collator_pairs": pairs,
        "collator_keys_before": ", ".join(examples[0]),
        "collator_shapes_after": {k: str(tuple(v.shape)) for k, v in batch.items()},
    }


def extractive_qa(qa, tokenizer) -> dict[str, Any]:
    """4a. Extractive QA: a start and an end logit per token; the answer is the best span in the context."""
    import torch

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
    return {"qa_tokens": int(qa_in["input_ids"].shape[1]), "qa_logits_shape": str(tuple(qa_out.start_logits.shape)),
            "qa_answer": tokenizer.decode(qa_in["input_ids"][0, span[0]:span[1] + 1])}


def summarization(tokenizer) -> dict[str, Any]:
    """4b. Summarization: an encoder-decoder whose LM head generates new tokens (a tiny random BART)."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    config = BartConfig(vocab_size=tokenizer.vocab_size, d_model=64, encoder_layers=2, decoder_layers=2,
                        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=128,
                        decoder_ffn_dim=128, max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                        decoder_start_token_id=tokenizer.sep_token_id, forced_eos_token_id=None)
    bart = BartForConditionalGeneration(config).eval()  # random weights: the mechanics, not a summary
    src = tokenizer(SUMMARY_SOURCE, return_tensors="pt")
    src = {"input_ids": src["input_ids"], "attention_mask": src["attention_mask"]}
    with torch.no_grad():
        memory = bart.get_encoder()(**src).last_hidden_state  # (1, S, d_model)
        start = torch.tensor([[config.decoder_start_token_id]])
        logits = bart(**src, decoder_input_ids=start).logits  # (1, 1, vocab): lm_head(decoder state)
        generated = bart.generate(**src, max_new_tokens=8, do_sample=False, num_beams=1)
    tied = bart.lm_head.weight.data_ptr() == bart.model.shared.weight.data_ptr()
    shape = lambda t: str(tuple(t.shape))  # noqa: E731
    return {"summary_vocab": tokenizer.vocab_size, "summary_lm_head_tied": tied, "summary_steps": [
        Step("source ids", shape(src["input_ids"]), "the text to summarise, tokenized"),
        Step("encoder memory", shape(memory), "(1, S, d_model), read by every decoder step via cross-attention"),
        Step("lm_head logits (first step)", shape(logits), "(1, t, vocab): a distribution over the next token"),
        Step("lm_head weight", shape(bart.lm_head.weight), f"tied to the input embedding: {'yes' if tied else 'no'}"),
        Step("generated ids", shape(generated), "greedy generate(), 8 new tokens at most"),
    ]}


def fine_tune(mc, tokenizer, train_set, test_set, opts: TaskHeadsOptions, seed: int, advance) -> dict[str, Any]:
    """5. Fine-tune the multiple-choice head (and the top layers); held-out accuracy before and after."""
    import torch

    right_before, before_loss = answers_right(mc, tokenizer, test_set)
    before_train, _ = accuracy(mc, tokenizer, train_set)
    for p in mc.parameters():
        p.requires_grad = False
    layers = mc.bert.encoder.layer
    body = [p for layer in layers[len(layers) - opts.train_layers:] for p in layer.parameters()] \
        if opts.train_layers else []
    if opts.train_layers:
        body += list(mc.bert.pooler.parameters())
    head = list(mc.classifier.parameters())
    for p in body + head:
        p.requires_grad = True
    groups = [{"params": head, "lr": opts.head_lr}] + ([{"params": body, "lr": opts.lr}] if body else [])
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    rng = random.Random(seed)
    epochs = []
    start_time = time.perf_counter()
    for epoch in range(1, opts.epochs + 1):
        mc.train()
        order = list(train_set)
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), opts.batch_size):
            batch = collate_multiple_choice(tokenizer, [features(tokenizer, x) for x in order[i:i + opts.batch_size]])
            out = mc(**batch)  # logits (b, 5); loss = cross-entropy over the 5 choices
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()
            losses.append(out.loss.item())
            advance(1)
        test_acc, test_loss = accuracy(mc, tokenizer, test_set)
        epochs.append(Epoch(epoch, round(sum(losses) / len(losses), 4), round(test_loss, 4), round(test_acc, 3)))
    train_seconds = time.perf_counter() - start_time
    right_after, _ = answers_right(mc, tokenizer, test_set)
    after_train, _ = accuracy(mc, tokenizer, train_set)
    n, C = len(test_set), len(LETTERS)
    before_test, after_test = sum(right_before) / n, sum(right_after) / n
    newly_right = sum(a and not b for a, b in zip(right_after, right_before))
    newly_wrong = sum(b and not a for a, b in zip(right_after, right_before))
    return {
        "n_choices": C, "train_layers": opts.train_layers, "trainable_params": sum(p.numel() for p in body + head),
        "train_questions": len(train_set), "held_out_questions": n,
        "chance_accuracy": 1 / C, "accuracy_before": round(before_test, 4), "accuracy_after": round(after_test, 4),
        "accuracy_change": round(after_test - before_test, 4), "one_question_share": 1 / n,
        "alpha": ALPHA, "heldout_correct": sum(right_after), "heldout_total": n,
        "heldout_p_value": binomial_tail(sum(right_after), n, 1 / C),
        "heldout_correct_before": sum(right_before),
        "heldout_p_value_before": binomial_tail(sum(right_before), n, 1 / C),
        "newly_right": newly_right, "newly_wrong": newly_wrong,
        "change_p_value": binomial_tail(newly_right, newly_right + newly_wrong, 0.5),
        "train_accuracy_before": round(before_train, 4), "train_accuracy_after": round(after_train, 4),
        "loss_before": before_loss,
        "train_loss_first_epoch": epochs[0].train_loss if epochs else 0.0,
        "train_loss_last_epoch": epochs[-1].train_loss if epochs else 0.0,
        "train_seconds": round(train_seconds, 2), "epochs": epochs,
    }


# --- report -------------------------------------------------------------------------------------
def report(n: Numbers, opts: TaskHeadsOptions) -> Report:
    mc, qa, sc = n.heads["MultipleChoice"], n.heads["QuestionAnswering"], n.heads["SequenceClassification"]
    shapes = {s.step: s.shape for s in (*n.trace, *n.summary_steps)}
    findings = [
        f"From one MiniLM checkpoint, transformers builds three task models; only the head is new: multiple choice "
        f"adds {mc.new_params} weights ({', '.join(mc.new_keys)}: {n.hidden}x1 + 1), QA adds {qa.new_params} "
        f"({n.hidden}x2 + 2, start and end), 3-label classification adds {sc.new_params} ({n.hidden}x3 + 3); "
        f"the pooler is {'in the checkpoint and loaded' if n.pooler_loaded else 'new'}, "
        f"so the other {mc.loaded:,} weights are pretrained.",
        f"Multiple choice: input_ids {shapes['input_ids']} is viewed as {shapes['flattened']}, "
        f"encoded and pooled to {shapes['pooled [CLS]']}, scored by Linear({n.hidden}, 1) to "
        f"{shapes['classifier']} and viewed as logits {shapes['logits']}; the hand-traced logits "
        f"{verdict(n.mc_logits_max_diff, n.tolerance, 'do NOT match', 'match', 'tolerance')} the model's own "
        f"forward within {n.tolerance:g} (max difference {n.mc_logits_max_diff:.1e}).",
        f"The collator turns a list of {n.collator_examples} examples, each with {n.n_choices} token lists "
        f"(example 1: lengths {', '.join(map(str, n.collator_first_lengths))}; the batch's pairs run from "
        f"{n.collator_shortest_choice} to {n.collator_longest_choice} tokens), into a dict of tensors "
        f"{n.collator_batch_shape}: every choice is padded to {n.collator_padded_length} tokens"
        + " (" + verdict(abs(n.collator_padded_length - n.collator_longest_choice), 0, "NOT the batch's longest",
                         "the batch's longest", "exact") + ")"
        + f", {n.collator_pad_tokens} pad tokens added; it "
        + verdict(n.collator_entries_differing, 0, "does NOT equal", "equals", "exact")
        + f" DataCollatorWithPadding on the flattened choices ({n.collator_entries_differing} input_ids differ).",
        f"Extractive QA: start and end logits of shape {n.qa_logits_shape} score every token; the "
        f"best span in the context is {n.qa_answer!r} — arbitrary, because the QA head is untrained.",
        f"Summarization is encoder-decoder generation: a tiny BART (random weights, built from a config) reads memory "
        f"{shapes['encoder memory']} and its LM head gives logits {shapes['lm_head logits (first step)']} per step over the "
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
    before = Epoch(0, "-", round(n.loss_before, 4), round(n.accuracy_before, 3))  # the untrained head
    layout = {
        "before": {"type": f"list of {n.collator_examples} dicts", "keys": n.collator_keys_before,
                   "shapes": f"input_ids: {n.n_choices} lists of lengths {n.collator_first_lengths} (example 1)"},
        "after": {"type": "dict of tensors", "keys": ", ".join(n.collator_shapes_after),
                  "shapes": "; ".join(f"{k}: {v}" for k, v in n.collator_shapes_after.items())},
    }
    steps = {"step": "step", "shape / value": "shape", "meaning": "meaning"}
    tables = [
        Table.of("One checkpoint, three heads: BertFor<task>", n.heads, {
            "task": "key", "new (random)": "new_modules", "new params": "new_params",
            "pooler": lambda _, h: "yes" if h.pooler else "no", "loaded": "loaded"},
            note="sequence classification built with num_labels=3; the pooler, when used, is loaded from the "
                 "checkpoint; QA scores every token, so it has no pooler"),
        Table.of(f"Multiple choice, traced by hand: '{n.trace_question}'", n.trace, steps),
        Table.of("The collator: per-choice lengths before and after padding", n.collator_pairs, {
            "(question, choice) pair": "pair", "tokens before": "tokens_before", "tokens after": "tokens_after",
            "pad added": "pad_added"}),
        Table.of("The collator: layout change", layout, {"": "key", "type": "type", "keys": "keys",
                                                          "shapes": "shapes"}),
        Table.of("Summarization head (tiny BART, random weights)", n.summary_steps,
                 {"tensor": "step", "shape": "shape", "meaning": "meaning"}),
        Table.of("Fine-tuning the multiple-choice head", [before, *n.epochs], {
            "epoch": "epoch", "mean train loss": "train_loss", "held-out loss": "heldout_loss",
            "held-out accuracy": "heldout_accuracy"},
            note=f"{n.train_questions} training / {n.held_out_questions} held-out questions, {n.n_choices} "
                 f"choices each; chance = {n.chance_accuracy:g}; before fine-tuning {n.heldout_correct_before} of "
                 f"{n.heldout_total} held-out right (binomial p = {n.heldout_p_value_before:.2g})"),
    ]
    summary = (f"One pretrained body, small new heads: {mc.new_params} new weights turn MiniLM into a "
               f"multiple-choice model, {qa.new_params} into an extractive QA model; "
               + (f"after {opts.epochs} epochs of fine-tuning" if opts.epochs else "without fine-tuning")
               + f" it answers {n.heldout_correct} of {n.heldout_total} held-out questions: "
               f"{chance_verdict(n.heldout_p_value, n.alpha)}.")
    return Report(summary, findings, tables, model=n.model_name)


# --- The probe ----------------------------------------------------------------------------------
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
                   "heads.MultipleChoice.new_params", "parameters"),
        Prediction("And an extractive-QA head (start and end logits)?", "heads.QuestionAnswering.new_params",
                   "parameters"),
    ),
    renamed_metrics={  # before issue 21 each head's numbers were a field of their own
        "mc_new_params": "heads.MultipleChoice.new_params", "mc_head_params": "heads.MultipleChoice.head_params",
        "mc_pretrained_params": "heads.MultipleChoice.loaded", "qa_new_params": "heads.QuestionAnswering.new_params",
        "qa_head_params": "heads.QuestionAnswering.head_params",
        "seqcls_new_params": "heads.SequenceClassification.new_params",
    },
)
