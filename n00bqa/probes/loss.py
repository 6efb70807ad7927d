"""What loss function does it use? How does a benchmark work?

A language model is trained with cross-entropy on the next token: at every position t the
model outputs logits over the vocabulary, and the loss is -log p(token t+1). This probe builds
a randomly initialised tiny GPT-2 in-process (GPT2LMHeadModel at n_embd 64, 2 layers, over the
bundled tokenizer's 30,522-token vocabulary: not the pretrained GPT-2), feeds it real sentences,
recomputes its loss by hand (shift by one, ignore_index=-100 on padding) and compares it with
the model's own `loss`; measures the loss at initialisation against ln(vocab size), stating the
gap in standard errors of the mean; shows perplexity = exp(loss), label smoothing, and the
cross-entropy a multiple-choice head uses. Then it scores multiple-choice predictions the way the
Kaggle LLM Science Exam leaderboard did: MAP@3 (see n00bqa/probes/metrics.py), on a worked example
(scores we chose to cover every case, not a model's) and on the bundled MiniLM's guesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_heads_divide, check_ranges, verdict

IGNORE_INDEX = -100  # the label value PyTorch's cross_entropy (and transformers) skip
INIT_RANGE = 0.02  # GPT-2's initializer_range: weights ~ N(0, 0.02^2)
# A mean that differs from its expectation by more than this many standard errors is more than
# sampling noise. The words say "standard errors", never a confidence level: with the default 8 draws
# the mean follows a t distribution with 7 degrees of freedom, whose two-sided 95 % point is 2.36, not 2.
NOISE_STANDARD_ERRORS = 2.0
TOLERANCE = 1e-5  # label smoothing's formula by hand vs torch: float32 losses agree to about this

# Real sentences of different lengths, so the batch needs padding (and -100 labels).
SENTENCES = [
    "The mitochondria is the powerhouse of the cell.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "Light from the Sun takes about eight minutes to reach the Earth.",
    "Plants turn carbon dioxide and water into sugar using sunlight.",
    "DNA is a double helix.",
    "Sound travels faster in water than in air.",
]

# Science-exam-style questions (five choices, one correct) for the multiple-choice part.
LETTERS = "ABCDE"
MC_QUESTIONS = [
    ("Which organelle produces most of a cell's energy?",
     ["the nucleus", "the mitochondria", "the ribosome", "the cell wall", "the vacuole"], "B"),
    ("What gas do plants absorb from the air for photosynthesis?",
     ["oxygen", "nitrogen", "carbon dioxide", "helium", "hydrogen"], "C"),
    ("What is the boiling point of water at sea level?",
     ["100 degrees Celsius", "0 degrees Celsius", "50 degrees Celsius", "212 degrees Celsius", "37 degrees Celsius"],
     "A"),
    ("Which planet is closest to the Sun?", ["Venus", "Earth", "Mars", "Mercury", "Jupiter"], "D"),
    ("What force keeps the planets in orbit around the Sun?",
     ["magnetism", "friction", "the strong nuclear force", "air pressure", "gravity"], "E"),
    ("What is the shape of a DNA molecule?",
     ["a single straight strand", "a double helix", "a flat sheet", "a sphere", "a triple ring"], "B"),
]

# A worked MAP@3 example: fixed scores we chose to cover every case a leaderboard meets (no model).
# (question, scores for A..E, correct answer, what the row shows)
WORKED = [
    ("q1", [4.0, 1.0, 0.5, 0.2, 0.1], "A", "rank 1"),
    ("q2", [3.0, 2.0, 1.0, 0.0, -1.0], "B", "rank 2"),
    ("q3", [0.3, 2.5, 0.1, 2.0, 0.2], "A", "rank 3"),
    ("q4", [2.0, 1.5, 0.5, 1.0, 3.0], "D", "the answer ranks 4th, outside the top 3, so 0"),
    ("q5", [1.0, 2.0, 2.0, 0.0, 0.0], "C", "B and C tie, letter order puts B first, so C is 2nd"),
    ("q6", [0.0, 1.0, 1.0, 1.0, 1.0], "E", "B, C, D, E tie, letter order pushes E to 4th, so 0"),
]


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    n_embd: int = field(default=64, metadata={"help": "Hidden size of the tiny GPT-2 (must divide by n_head)."})
    n_layer: int = field(default=2, metadata={"help": "Number of GPT-2 blocks."})
    n_head: int = field(default=4, metadata={"help": "Attention heads per block."})
    train_steps: int = field(default=30, metadata={"help": "AdamW steps on the sentences, to move the loss "
                                                          "away from its initial value (0 to skip)."})
    init_draws: int = field(default=8, metadata={"help": "Independent random initialisations whose first losses "
                                                        "are averaged to test the loss at init against ln V."})
    label_smoothing: float = field(default=0.1, metadata={"help": "Label smoothing epsilon to compare with 0."})
    wide_init: float = field(default=0.5, metadata={"help": "A larger initializer_range for the contrast model "
                                                           "whose first logits are not near-uniform."})


def check(opts: Options) -> None:
    # n_embd 1: a LayerNorm over one feature outputs its bias whatever the input, so every init scores alike
    check_ranges(opts, {"n_embd": (2, 512, "(a LayerNorm over 1 feature outputs only its bias)"),
                        "n_layer": (1, 12), "n_head": (1, opts.n_embd), "train_steps": (0, 200),
                        "init_draws": (2, 100, "(a standard error needs two)"),
                        "label_smoothing": (0.0, 0.99), "wide_init": (0.001, 10.0)})
    check_heads_divide(opts, "n_embd")


def causal_lm_loss_by_hand(logits, labels):
    """Mean next-token cross-entropy, written out: shift, log-softmax, pick the label, skip -100.

    Args:
        logits: (B, T, V) the model's scores at every position.
        labels: (B, T) the input ids, with IGNORE_INDEX where nothing should be predicted.
    Returns:
        (loss, per_position) where per_position is (B, T-1), 0 at ignored positions.
    """
    import torch

    shift_logits = logits[:, :-1, :]  # (B, T-1, V): position t predicts token t+1 ...
    shift_labels = labels[:, 1:]  # (B, T-1): ... so the target is the label one step to the right
    log_probs = torch.log_softmax(shift_logits.float(), dim=-1)  # (B, T-1, V)
    counted = shift_labels != IGNORE_INDEX  # (B, T-1) bool
    safe_labels = shift_labels.clamp(min=0)  # -100 is not a valid index; those positions are masked anyway
    nll = -log_probs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    nll = nll * counted
    return nll.sum() / counted.sum(), nll


def noise_verdict(standard_errors: float, threshold: float = NOISE_STANDARD_ERRORS) -> str:
    """Words for a mean `standard_errors` standard errors away from its expectation."""
    return verdict(abs(standard_errors), threshold,
                   f"beyond {threshold:g} standard errors: more than sampling noise of the mean explains",
                   f"within {threshold:g} standard errors, as sampling noise of the mean would be", "standard errors")


def _tiny_gpt2(tokenizer, opts: Options, initializer_range: float):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=opts.n_embd, n_layer=opts.n_layer,
                        n_head=opts.n_head, initializer_range=initializer_range,
                        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config)
    model.loss_type = "ForCausalLM"  # what transformers picks anyway; naming it avoids a warning
    return model.eval()


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Smoothing:
    """The same logits scored with label_smoothing 0 and eps."""

    stage: str  # which logits: at init, or after training
    plain: float  # cross_entropy, eps 0
    loss: float  # cross_entropy, label_smoothing=eps
    by_hand: float  # (1-eps)·NLL + eps·mean(-log p)
    by_hand_abs_diff: float
    increase: float  # loss - plain


@dataclass
class Numbers:
    """What the loss probe measures; every numeric field is a `--json` metric."""

    # 1-2. the batch, the model's loss and the same loss by hand
    batch_sentences: int
    padded_length: int
    vocab_size: int
    shifted_positions: int  # B * (T - 1): every position that has a next token
    predicted_positions: int
    ignored_positions: int
    model_loss: float
    manual_loss: float
    manual_vs_model_loss_abs_diff: float
    torch_cross_entropy_vs_model_loss_abs_diff: float
    # 3. loss at init vs ln V
    initializer_range: float
    ln_vocab: float
    init_loss: float
    init_loss_minus_ln_vocab: float
    init_logit_std: float
    init_logit_std_predicted: float  # initializer_range * sqrt(n_embd)
    init_loss_theory_correction: float  # std^2 / 2
    init_loss_predicted: float  # ln V + std^2 / 2
    init_loss_standard_error: float
    init_draws: int  # independent random inits, for the test of the loss at init
    init_draws_mean_loss: float
    init_draws_standard_error: float  # std of the draws' losses / sqrt(draws)
    init_draws_mean_logit_std: float
    init_draws_predicted_loss: float  # ln V + (mean logit std)^2 / 2
    init_draws_excess: float  # mean loss - ln V
    init_excess_standard_errors: float  # (mean loss - ln V) / standard error
    init_vs_predicted_standard_errors: float  # (mean loss - (ln V + std^2/2)) / standard error
    init_perplexity_over_vocab: float  # exp(loss) / V = exp(init_loss - ln V)
    init_perplexity: float
    wide_init_logit_std: float
    wide_init_loss: float
    wide_init_loss_minus_ln_vocab: float
    wide_init_loss_standard_error: float
    wide_init_excess_standard_errors: float
    wide_init_logit_std_ratio: float  # wide logit std / default-init logit std
    # 4. perplexity after training
    train_steps: int
    trained_loss: float
    perplexity: float
    # 5. label smoothing, 6. multiple choice, 7. the worked MAP@3 table
    label_smoothing: dict[str, Smoothing]  # "init", "trained" -> the same logits with eps 0 and eps
    label_smoothing_increase_ratio: float | None  # trained increase / init increase (None: no increase at init)
    mc_loss: float
    mc_loss_by_hand: float
    mc_loss_by_hand_abs_diff: float
    mc_chance_loss: float
    # MAP@3 of whose guesses: "mc" MiniLM's, "random" a random guesser's (expected), "worked" the worked
    # example's fixed scores (not a model's score)
    map3: dict[str, float]
    worked_questions: int
    repeat_guess_score: float
    # report-only records (lists: not metrics)
    shift_sentence: int = 0
    shift: list[dict[str, Any]] = field(default_factory=list)  # position, input, label, -log p at init
    draws: list[dict[str, float]] = field(default_factory=list)  # first loss and logit std per random init
    mc: list[dict[str, Any]] = field(default_factory=list)  # per question: scores, answer, top 3, AP@3
    worked: list[dict[str, Any]] = field(default_factory=list)  # per worked row: scores, answer, top 3, rank, AP@3
    model_name: str = ""
    tolerance: float = TOLERANCE  # of "by hand matches torch" (label smoothing)


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F

    from n00bqa.probes.lib.metrics import average_precision_at_3, map_at_3, top_k_labels
    from n00bqa.probes.lib.models import BUNDLED_NAME, load_model, load_tokenizer

    # --- 1. A batch of real sentences, padded; padding gets label -100 -------------------------
    tokenizer = load_tokenizer(None)
    vocab_size = len(tokenizer)  # V
    batch = tokenizer(SENTENCES, padding=True, add_special_tokens=False, return_tensors="pt")
    input_ids = batch["input_ids"]  # (B, T)
    attention_mask = batch["attention_mask"]  # (B, T), 0 on padding
    labels = input_ids.masked_fill(attention_mask == 0, IGNORE_INDEX)  # (B, T)
    B, T = input_ids.shape

    # --- 2. The model's own loss vs the same loss by hand ------------------------------------
    model = _tiny_gpt2(tokenizer, opts, initializer_range=INIT_RANGE)  # GPT-2's default init
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    logits = out.logits  # (B, T, V)
    manual_loss, per_position = causal_lm_loss_by_hand(logits, labels)
    # The same with PyTorch's cross_entropy on the flattened shifted tensors.
    torch_loss = F.cross_entropy(logits[:, :-1, :].reshape(-1, vocab_size),  # (B*(T-1), V)
                                 labels[:, 1:].reshape(-1),  # (B*(T-1),)
                                 ignore_index=IGNORE_INDEX)
    model_loss = float(out.loss)
    counted = int((labels[:, 1:] != IGNORE_INDEX).sum())

    # Show the shift on the shortest sentence, so its padded tail is visible.
    row = int(attention_mask.sum(dim=1).argmin())
    tokens = tokenizer.convert_ids_to_tokens(input_ids[row].tolist())
    shift = []
    real_length = int(attention_mask[row].sum())
    for t in range(min(real_length + 1, T - 1)):  # the real tokens, then the first padded positions
        target = int(labels[row, t + 1])
        shift.append(dict(input=tokens[t], label=tokenizer.convert_ids_to_tokens(target)
                          if target != IGNORE_INDEX else "-100 (pad)", nll=float(per_position[row, t])))

    # --- 3. Loss at initialisation vs ln(V) ------------------------------------------------------
    # GPT-2 ties the output layer to the token embedding wte ~ N(0, 0.02^2), and ln_f normalises the
    # hidden state to unit variance per dimension, so each logit has std about 0.02*sqrt(n_embd):
    # small, so softmax is nearly uniform, p ≈ 1/V, and loss ≈ ln V. (For Gaussian logits with std s
    # the expected loss is ln V + s^2/2, a second-order correction.)
    ln_vocab = math.log(vocab_size)
    init_loss = model_loss
    init_logits = logits  # (B, T, V), kept for the label-smoothing comparison
    logit_std = float(logits[attention_mask.bool()].std())
    counted_nll = per_position[labels[:, 1:] != IGNORE_INDEX]  # (counted,)
    standard_error = float(counted_nll.std()) / math.sqrt(counted)  # the mean over few positions is noisy
    # One model's loss varies with its random weights (positions share them, so the standard error over
    # positions understates the spread): the test of "loss at init = ln V" averages independent inits.
    draw_losses, draw_stds = [], []
    with torch.random.fork_rng():  # the draws leave the seeded stream of the rest of the probe alone
        torch.manual_seed(ctx.seed + 1)
        advance_draws = ctx.task("first losses of independent random inits", opts.init_draws)
        for _ in range(opts.init_draws):
            draw = _tiny_gpt2(tokenizer, opts, initializer_range=INIT_RANGE)
            with torch.no_grad():
                draw_out = draw(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
            draw_losses.append(float(draw_out.loss))
            draw_stds.append(float(draw_out.logits[attention_mask.bool()].std()))
            advance_draws(1)
    draws_mean = sum(draw_losses) / len(draw_losses)
    draws_se = math.sqrt(sum((x - draws_mean) ** 2 for x in draw_losses) / (len(draw_losses) - 1) / len(draw_losses))
    draws_std = sum(draw_stds) / len(draw_stds)
    wide = _tiny_gpt2(tokenizer, opts, initializer_range=opts.wide_init)
    with torch.no_grad():
        wide_out = wide(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    _, wide_per_position = causal_lm_loss_by_hand(wide_out.logits, labels)
    wide_nll = wide_per_position[labels[:, 1:] != IGNORE_INDEX]  # (counted,)
    wide_standard_error = float(wide_nll.std()) / math.sqrt(counted)
    wide_loss = float(wide_out.loss)
    wide_std = float(wide_out.logits[attention_mask.bool()].std())

    # --- 4. Perplexity = exp(loss), and training moves it --------------------------------------
    trained_loss = init_loss
    if opts.train_steps:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        advance = ctx.task("training the tiny GPT-2 on the sentences", opts.train_steps)
        for _ in range(opts.train_steps):
            loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            advance(1)
        model.eval()
        with torch.no_grad():
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        trained_loss = float(out.loss)
        logits = out.logits  # (B, T, V), now far from uniform

    # --- 5. Label smoothing ----------------------------------------------------------------------
    # With smoothing eps the target is (1-eps) on the label plus eps/V spread over every class, so
    # loss = (1-eps) * NLL + eps * mean over classes of -log p_k.
    eps = opts.label_smoothing
    smoothing = {}
    for key, stage, stage_logits in (("init", "init", init_logits),
                                     ("trained", f"after {opts.train_steps} steps", logits)):
        flat_logits = stage_logits[:, :-1, :].reshape(-1, vocab_size)  # (B*(T-1), V)
        flat_labels = labels[:, 1:].reshape(-1)  # (B*(T-1),)
        plain = float(F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE_INDEX))
        smoothed = float(F.cross_entropy(flat_logits, flat_labels, ignore_index=IGNORE_INDEX,
                                         label_smoothing=eps))
        keep = flat_labels != IGNORE_INDEX
        log_p = torch.log_softmax(flat_logits[keep].float(), dim=-1)  # (N, V)
        nll = -log_p.gather(-1, flat_labels[keep].unsqueeze(-1)).squeeze(-1)  # (N,)
        uniform_term = -log_p.mean(dim=-1)  # (N,): cross-entropy against the uniform distribution
        by_hand = float(((1 - eps) * nll + eps * uniform_term).mean())
        smoothing[key] = Smoothing(stage=stage, plain=plain, loss=smoothed, by_hand=by_hand,
                                   by_hand_abs_diff=abs(by_hand - smoothed), increase=smoothed - plain)

    # --- 6. Multiple choice: cross-entropy over choices, then the top-3 letters ------------------
    # A multiple-choice head gives one score per choice: logits (B, n_choices). No fine-tuned head
    # exists offline, so the bundled MiniLM's cosine(question, choice) × 20 plays that role.
    encoder = load_model(None)
    n_q, n_choices = len(MC_QUESTIONS), len(LETTERS)
    texts = [q for q, _, _ in MC_QUESTIONS] + [c for _, choices, _ in MC_QUESTIONS for c in choices]
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**enc).last_hidden_state  # (n_q + n_q*n_choices, T, 384)
    mask = enc["attention_mask"].unsqueeze(-1).float()  # (N, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1)  # (N, 384) mean pooling, as sentence-transformers does
    pooled = F.normalize(pooled, dim=-1)
    q_vec = pooled[:n_q]  # (n_q, 384)
    c_vec = pooled[n_q:].view(n_q, n_choices, -1)  # (n_q*n_choices, 384) -> (n_q, n_choices, 384)
    mc_logits = 20.0 * torch.einsum("qd,qcd->qc", q_vec, c_vec)  # (n_q, n_choices)
    mc_labels = torch.tensor([LETTERS.index(a) for _, _, a in MC_QUESTIONS])  # (n_q,)
    mc_loss = float(F.cross_entropy(mc_logits, mc_labels))
    mc_by_hand = float(-torch.log_softmax(mc_logits, dim=-1)[torch.arange(n_q), mc_labels].mean())
    mc = []
    for i, (question, _, answer) in enumerate(MC_QUESTIONS):
        top3 = top_k_labels(mc_logits[i].tolist(), LETTERS)
        mc.append(dict(name=f"q{i + 1}", scores=mc_logits[i].tolist(), answer=answer, top3=top3,
                       ap=average_precision_at_3(top3, answer), question=question))

    # --- 7. MAP@3 on a worked table --------------------------------------------------------------
    worked = []
    for name, scores, answer, _ in WORKED:
        top3 = top_k_labels(scores, LETTERS)
        full_order = top_k_labels(scores, LETTERS, k=n_choices)
        worked.append(dict(name=name, scores=scores, answer=answer, top3=top3, rank=full_order.index(answer) + 1,
                           ap=average_precision_at_3(top3, answer)))

    return Numbers(
        batch_sentences=B, padded_length=T, vocab_size=vocab_size, shifted_positions=B * (T - 1),
        predicted_positions=counted,
        ignored_positions=B * (T - 1) - counted, model_loss=model_loss, manual_loss=float(manual_loss),
        manual_vs_model_loss_abs_diff=abs(float(manual_loss) - model_loss),
        torch_cross_entropy_vs_model_loss_abs_diff=abs(float(torch_loss) - model_loss),
        initializer_range=INIT_RANGE, ln_vocab=ln_vocab, init_loss=init_loss,
        init_loss_minus_ln_vocab=init_loss - ln_vocab, init_logit_std=logit_std,
        init_logit_std_predicted=INIT_RANGE * math.sqrt(opts.n_embd),
        init_loss_theory_correction=logit_std ** 2 / 2, init_loss_predicted=ln_vocab + logit_std ** 2 / 2,
        init_loss_standard_error=standard_error,
        init_draws=opts.init_draws, init_draws_mean_loss=draws_mean, init_draws_standard_error=draws_se,
        init_draws_mean_logit_std=draws_std, init_draws_predicted_loss=ln_vocab + draws_std ** 2 / 2,
        init_draws_excess=draws_mean - ln_vocab, init_excess_standard_errors=(draws_mean - ln_vocab) / draws_se,
        init_vs_predicted_standard_errors=(draws_mean - ln_vocab - draws_std ** 2 / 2) / draws_se,
        init_perplexity=math.exp(init_loss), init_perplexity_over_vocab=math.exp(init_loss) / vocab_size,
        wide_init_logit_std=wide_std, wide_init_loss=wide_loss, wide_init_loss_minus_ln_vocab=wide_loss - ln_vocab,
        wide_init_loss_standard_error=wide_standard_error,
        wide_init_excess_standard_errors=(wide_loss - ln_vocab) / wide_standard_error,
        wide_init_logit_std_ratio=wide_std / logit_std,
        train_steps=opts.train_steps, trained_loss=trained_loss, perplexity=math.exp(trained_loss),
        label_smoothing=smoothing,
        # None when smoothing moves nothing at init (--label-smoothing 0): no ratio to take
        label_smoothing_increase_ratio=(smoothing["trained"].increase / smoothing["init"].increase
                                        if smoothing["init"].increase > 0 else None),
        mc_loss=mc_loss, mc_loss_by_hand=mc_by_hand, mc_loss_by_hand_abs_diff=abs(mc_loss - mc_by_hand),
        mc_chance_loss=math.log(n_choices), map3=dict(
            mc=map_at_3([q["top3"] for q in mc], [q["answer"] for q in mc]),
            random=(1 + 1 / 2 + 1 / 3) / n_choices,  # each rank equally likely for a random guesser
            worked=map_at_3([w["top3"] for w in worked], [w["answer"] for w in worked])),
        worked_questions=len(WORKED),
        repeat_guess_score=average_precision_at_3(["A", "A", "A"], "A") + average_precision_at_3(["B", "B", "A"], "A"),
        shift_sentence=row + 1, shift=shift,
        draws=[dict(loss=loss, logit_std=std) for loss, std in zip(draw_losses, draw_stds)],
        mc=mc, worked=worked, model_name=BUNDLED_NAME,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    B, T, V = n.batch_sentences, n.padded_length, n.vocab_size
    eps = opts.label_smoothing
    n_q, n_choices = len(MC_QUESTIONS), len(LETTERS)
    at_init, trained = n.label_smoothing["init"], n.label_smoothing["trained"]
    ap_text = " + ".join(f"{round(w['ap'], 4):.4g}" for w in n.worked)
    init_noise = noise_verdict(n.init_excess_standard_errors)
    smoothing_diff = max(at_init.by_hand_abs_diff, trained.by_hand_abs_diff)
    ratio = n.label_smoothing_increase_ratio  # trained increase / init increase
    less = (verdict(ratio, 1, f"{ratio:,.0f}× less", f"NOT less ({ratio:.3g}×)", "increase ratio")
            if at_init.increase > 0 else "")
    findings = [
        f"A randomly initialised tiny GPT-2 (GPT2LMHeadModel, {opts.n_layer} layers, n_embd {opts.n_embd}, "
        f"{V:,}-token vocabulary), given labels=..., returned loss {n.model_loss:.6f}; the same loss by hand "
        f"(logits[:, :-1] against labels[:, 1:], -log softmax at the label, mean over the {n.predicted_positions} "
        f"positions whose label is not -100) is {n.manual_loss:.6f}: absolute difference "
        f"{n.manual_vs_model_loss_abs_diff:.2e}. The batch is {B} real sentences padded to {T} tokens; "
        f"{n.ignored_positions} of the {n.shifted_positions} shifted positions are padding with label -100 and "
        "count for nothing.",
        f"At initialisation that random model's loss is {n.init_loss:.4f} against ln(V) = ln({V}) = "
        f"{n.ln_vocab:.4f}: the logits have std {n.init_logit_std:.3f} (≈ {n.initializer_range}·√{opts.n_embd} = "
        f"{n.init_logit_std_predicted:.3f}), "
        + ("so softmax is nearly uniform and every token gets p ≈ 1/V (the test below finds no excess beyond "
           "noise). " if init_noise.startswith("within") else
           f"which is NOT small enough to call the softmax uniform: the test below puts the loss "
           f"{n.init_excess_standard_errors:+.2f} standard errors from ln V. ")
        + "The excess "
        f"{n.init_loss_minus_ln_vocab:+.4f} of this one model depends on its random weights, so the test uses "
        f"{n.init_draws} independent random inits: their mean first loss is {n.init_draws_mean_loss:.4f} "
        f"(standard error {n.init_draws_standard_error:.4f}), an excess over ln V of {n.init_draws_excess:+.4f} = "
        f"{n.init_excess_standard_errors:+.2f} standard errors: {init_noise}. "
        f"Theory for Gaussian logits of std s puts the expected loss at ln V + s²/2 = "
        f"{n.init_draws_predicted_loss:.4f} (s = {n.init_draws_mean_logit_std:.3f}): the draws' mean is "
        f"{n.init_vs_predicted_standard_errors:+.2f} standard errors from it: "
        f"{noise_verdict(n.init_vs_predicted_standard_errors)}.",
        f"With initializer_range {opts.wide_init} instead of {n.initializer_range} the first logits have std "
        f"{n.wide_init_logit_std:.2f} ({n.wide_init_logit_std_ratio:.0f}× the default init's), and the initial loss "
        f"is {n.wide_init_loss:.2f}, {n.wide_init_loss_minus_ln_vocab:+.2f} above ln V = "
        f"{n.wide_init_excess_standard_errors:+.0f} standard errors (standard error "
        f"{n.wide_init_loss_standard_error:.2f}): {noise_verdict(n.wide_init_excess_standard_errors)}. A first "
        "loss far above ln(vocab) is the classic sign of a bad init.",
        f"Perplexity = exp(loss): at init exp({n.init_loss:.3f}) = {n.init_perplexity:,.0f}, which is "
        f"{n.init_perplexity_over_vocab:.3f} × V = {V:,} (picking uniformly among all tokens gives exactly V); "
        f"after {opts.train_steps} AdamW steps on these sentences the loss is {n.trained_loss:.3f} and the "
        f"perplexity {n.perplexity:,.2f}.",
        f"Label smoothing {eps}: on the trained logits the loss goes from {trained.plain:.4f} to "
        f"{trained.loss:.4f} ({trained.increase:+.4f}); at init it moves "
        f"{at_init.increase:+.4f} ({at_init.plain:.4f} → {at_init.loss:.4f})"
        + (f", {less}" if less else "")
        + (", because near-uniform logits already match the uniform part of the smoothed target. "
           if less.endswith("less") else ". ")
        + "(1-eps)·NLL + eps·mean(-log p) by hand "
        + verdict(smoothing_diff, n.tolerance, "does NOT match", "matches", "tolerance")
        + f" torch within {n.tolerance:g} (largest difference {smoothing_diff:.1e}).",
        f"Multiple choice is cross-entropy over the choices: logits ({n_q}, {n_choices}) and the correct "
        f"index per question give loss {n.mc_loss:.4f} (by hand -log softmax[correct] = {n.mc_loss_by_hand:.4f}; "
        f"guessing uniformly would give ln {n_choices} = {n.mc_chance_loss:.4f}). Sorting each row's logits "
        f"gives the top-3 letters a Kaggle submission lists; MiniLM's similarity scores reach MAP@3 "
        f"{n.map3['mc']:.4f} on these {n_q} questions, against {n.map3['random']:.4f} expected from random guesses.",
        f"MAP@3 (Kaggle LLM Science Exam): each question scores 1/rank of its one correct answer within "
        f"the top 3 guesses, else 0, and the scores are averaged. A worked example with scores we chose (no "
        f"model: ranks 1, 2, 3, outside, a tie broken by letter order, a tie pushing the answer out) gives "
        f"({ap_text}) / {n.worked_questions} = {n.map3['worked']:.4f}. Repeating a guess never helps: [A, A, A] "
        f"scores 1 and [B, B, A] scores 1/3 when A is right (sum {n.repeat_guess_score:.4f}).",
    ]
    tables = [
        Table.of(f"Next-token targets for sentence {n.shift_sentence} (labels shifted left by one)", n.shift, {
                     "position t": "key", "input token": "input", "label = token t+1": "label",
                     "-log p(label) at init": lambda _, s: round(s["nll"], 4)},
                 note=f"Positions {len(n.shift) - 1}..{T - 2} are padding too (label -100, add 0); position "
                   f"{T - 1} has no next token at all."),
        Table.of(f"First loss of {n.init_draws} independent random inits (initializer_range {n.initializer_range})",
                 n.draws, {"init": lambda i, _: i + 1, "first loss": lambda _, d: round(d["loss"], 6),
                           "logit std": lambda _, d: round(d["logit_std"], 4)},
                 note=f"mean {n.init_draws_mean_loss:.4f}, standard error {n.init_draws_standard_error:.4f} "
                   f"(sample std / √{n.init_draws}); ln V = {n.ln_vocab:.4f}"),
        Table.of(f"Label smoothing: the same logits with label_smoothing 0 vs {eps}", n.label_smoothing, {
                     "logits": "stage", "eps 0": lambda _, r: round(r.plain, 4), f"eps {eps}": lambda _, r: round(r.loss, 4),
                     f"by hand, eps {eps}": lambda _, r: round(r.by_hand, 4),
                     "|by hand - torch|": lambda _, r: float(f"{r.by_hand_abs_diff:.2e}")},
                 note="by hand = (1-eps)·NLL + eps·mean over the vocabulary of -log p: the second term is the "
                   "cross-entropy against the uniform distribution, large once the model is confident."),
        Table.of(f"Multiple choice scored by {n.model_name}: logits (B, {n_choices}) → top-3 letters → AP@3", n.mc, {
                     "q": lambda _, q: q["name"],
                     **{letter: (lambda _, q, i=i: round(q["scores"][i], 1)) for i, letter in enumerate(LETTERS)},
                     "answer": lambda _, q: q["answer"], "top 3": lambda _, q: " ".join(q["top3"]),
                     "AP@3": lambda _, q: round(q["ap"], 4), "question": lambda _, q: q["question"]},
                 note="logit = 20 × cosine(question, choice); top 3 = letters sorted by logit, ties by letter order."),
        Table.of("MAP@3, worked example (chosen scores): top 3 → 1/rank of the answer if in the top 3, else 0", n.worked, {
                     "q": lambda _, w: w["name"],
                     **{letter: (lambda _, w, i=i: w["scores"][i]) for i, letter in enumerate(LETTERS)},
                     "answer": lambda _, w: w["answer"], "top 3": lambda _, w: " ".join(w["top3"]),
                     "rank": lambda _, w: w["rank"], "AP@3": lambda _, w: round(w["ap"], 4)},
                 note=f"MAP@3 of the worked example = ({ap_text}) / {n.worked_questions} = {n.map3['worked']:.4f}. "
                   + "; ".join(f"{name}: {shows}" for name, _, _, shows in WORKED[3:]) + "."),
    ]
    summary = (f"Training minimises next-token cross-entropy: by hand {n.manual_loss:.4f} = a random tiny "
               f"GPT-2's own {n.model_loss:.4f} (diff {n.manual_vs_model_loss_abs_diff:.1e}); the first loss of "
               f"{n.init_draws} random inits averages {n.init_draws_mean_loss:.3f}, "
               f"{n.init_excess_standard_errors:+.1f} standard errors from ln V = {n.ln_vocab:.3f}; a leaderboard "
               f"instead scores ranked guesses: MAP@3, {n.map3['worked']:.4f} on a worked example.")
    return Report(summary=summary, findings=findings, tables=tables,
                  model=f"randomly initialised tiny GPT-2 (V={V}) + {n.model_name}")


# --- 5. The probe -------------------------------------------------------------------------------
# Label smoothing's two stages became a dict keyed by stage (init, trained);
# MAP@3 of the three guessers became a dict keyed by guesser (mc, random, worked).
RENAMED_METRICS = {
    **{f"label_smoothing_{stage}_{name}": f"label_smoothing.{stage}.{name}"
       for stage in ("init", "trained") for name in ("loss", "by_hand_abs_diff", "increase")},
    **{f"{who}_map_at_3": f"map3.{who}" for who in ("mc", "random", "worked")},
}

PROBE = Probe(
    name="loss",
    question="loss-and-benchmark",
    title="Cross-entropy by hand vs a random tiny GPT-2's own loss, loss at init vs ln V, label smoothing, MAP@3",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a tiny model: one thread is faster than two (see Probe.threads)
    predictions=(
        Prediction("A randomly initialised model with a 30,522-token vocabulary: what is its first loss?",
                   "init_loss", "nats"),
        Prediction("What perplexity does that first loss correspond to?", "init_perplexity", "", scoring="log10"),
    ),
    renamed_metrics=RENAMED_METRICS,
)
