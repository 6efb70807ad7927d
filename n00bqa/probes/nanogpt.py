"""How do I build and train a GPT from scratch, and what loss should I expect along the way?

A GPT written in the reading order of nanoGPT's `model.py` (`n00bqa/probes/lib/gpt.py`: token and
position embeddings, causal self-attention, MLP, the pre-norm block, the final LayerNorm and the output
layer tied to the token table; read it first), trained here character by character on text n00bqa ships: our own corpus notes
(`data/nanogpt_text.txt`, the notes in `corpus/notes/` joined together when this probe was written),
90 % for training and the last 10 % held out, as nanoGPT's shakespeare_char preparation splits.

What it measures, in the order a learner meets it:

1. the vocabulary (every distinct character) and ln V, the loss of a uniform guess;
2. the loss at step 0, which must sit near ln V, and why (a tied head fed unit-variance vectors
   through small weights gives near-equal logits);
3. the unigram entropy: the loss of a model that knows only how often each character occurs;
4. training: the loss curve (drawn in the terminal by plotext), the final held-out loss against
   the best any context-free model can score on the same held-out characters (their own unigram
   entropy), the time it took, and a sample of generated text;
5. the parameter count against its closed form, and nanoGPT's own shakespeare_char and GPT-2
   configurations counted on the `meta` device the way nanoGPT prints them, with the validation
   loss its README reports for shakespeare_char.
"""

from __future__ import annotations

import math
import textwrap
import time
from dataclasses import dataclass, field
from importlib.resources import files

from n00bqa.probes.lib.models import GPTShape
from n00bqa.probes.base import (Context, Prediction, Probe, Report, Table, check_heads_divide, check_ranges,
                                verdict)

TEXT_FILE = "data/nanogpt_text.txt"
TRAIN_FRACTION = 0.9  # nanoGPT's data/shakespeare_char/prepare.py keeps the first 90 % for training
# How far the step-0 loss may sit from ln V and still be "near": the tied-head argument below
# predicts an excess of std²/2 (0.01 nats at width 64, 0.03 at 128, 0.08 at 384), and a mean over a
# few batches of near-uniform predictions wobbles by hundredths; a bad init misses by whole nats.
INIT_TOLERANCE = 0.1

# nanoGPT's config/train_shakespeare_char.py: 6 layers, 6 heads, width 384, context 256, dropout 0.2;
# bias is train.py's default (False), and the vocabulary is tiny Shakespeare's 65 characters.
SHAKESPEARE_CHAR = dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65, bias=False, dropout=0.2)
# nanoGPT README, "quick start": about 3 minutes on one A100, "the best validation loss is 1.4697";
# its cut-down CPU run (4 layers, 4 heads, width 128, context 64, 2,000 iterations) "gets us a loss of only 1.88".
SHAKESPEARE_CHAR_PUBLISHED_VAL_LOSS = 1.4697
SHAKESPEARE_CHAR_PUBLISHED_CPU_VAL_LOSS = 1.88
# GPT-2 small as OpenAI released it (biases on, 50,257 tokens); nanoGPT's from-scratch default pads the
# vocabulary to 50,304, a multiple of 64.
GPT2 = dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257, bias=True)
GPT2_PADDED_VOCAB = 50304
GPT2_PUBLISHED_PARAMS = 124_439_808  # GPT-2 small's exact count, tied matrix once (see corpus/notes/nanogpt.md)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options(GPTShape):
    steps: int = field(default=600, metadata={"help": "AdamW steps of training."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per step."})
    block_size: int = field(default=64, metadata={"help": "Context length in characters."})
    learning_rate: float = field(default=5e-3, metadata={"help": "Peak AdamW learning rate (cosine decay to a tenth)."})
    eval_batches: int = field(default=8, metadata={"help": "Batches averaged for each train/val loss estimate."})
    evals: int = field(default=10, metadata={"help": "How many times to estimate the losses during training."})
    sample_chars: int = field(default=240, metadata={"help": "Characters to generate after training (0 for none)."})
    temperature: float = field(default=0.8, metadata={"help": "Sampling temperature (nanoGPT's sample.py uses 0.8)."})


def check(opts: Options) -> None:
    check_ranges(opts, {"steps": (1, 5000), "batch_size": (1, 512), "block_size": (2, 1024), "n_layer": (1, 24),
                        "n_head": (1, 64), "n_embd": (1, 1024), "eval_batches": (1, 200), "evals": (1, 100),
                        "sample_chars": (0, 5000), "learning_rate": (1e-5, 1.0), "temperature": (0.01, 10.0)})
    check_heads_divide(opts, "n_embd")


# --- Counting the model (the model itself is lib/gpt.py, in the order of nanoGPT's model.py) -----
def params_closed_form(config) -> int:
    """V·C + block·C (the two tables) + per block [12·C² weights + 2·C LayerNorm scales
    (+ 11·C biases)] + C for ln_f (+ C); the tied head adds nothing."""
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    # qkv 3C², proj C², MLP 8C², two LayerNorm scales; biases: qkv 3C, proj C, MLP 4C + C, LayerNorms 2C
    per_block = 12 * C * C + 2 * C + (11 * C if config.bias else 0)
    return V * C + config.block_size * C + L * per_block + C + (C if config.bias else 0)


def count_on_meta(config) -> dict[str, int]:
    """nanoGPT's two counts of a GPTConfig, without allocating a single weight."""
    import torch

    from n00bqa.probes.lib.gpt import GPT

    with torch.device("meta"):
        model = GPT(config)
    return {"params": model.get_num_params(non_embedding=False),
            "non_embedding_params": model.get_num_params(),  # what nanoGPT prints at start-up
            "params_formula": params_closed_form(config)}


# --- Verdicts: each a computed test whose numbers the finding shows ------------------------------
def near_ln_vocab(initial_loss: float, ln_vocab: float, tolerance: float = INIT_TOLERANCE) -> bool:
    return abs(initial_loss - ln_vocab) <= tolerance


CONTEXT_SE = 2.0  # "uses context": the held-out loss is this many standard errors below the context-free floor


def uses_context(val_loss: float, floor: float, standard_error: float | None) -> bool:
    """The held-out loss sits more than CONTEXT_SE standard errors below `floor`, the unigram entropy of the
    held-out characters it was scored on: no model that ignores context can score below that floor on
    them (cross-entropy = entropy + KL >= entropy), so a loss clearly under it uses context. Without a
    standard error (one eval batch) nothing is claimed."""
    return standard_error is not None and val_loss + CONTEXT_SE * standard_error < floor


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class LossPoint:  # one estimate of the losses during training, each a mean over --eval-batches batches
    step: int
    train: float
    val: float


@dataclass
class CharCount:  # how often one character occurs in the training text
    char: str  # repr() of the character, so a space or a line break shows
    count: int
    share: float  # count / training characters


@dataclass
class Numbers:
    text_chars: int
    train_chars: int
    val_chars: int
    vocab_size: int  # distinct characters
    ln_vocab: float  # loss of a uniform guess
    init_std: float  # std of the initial weights
    init_logit_std: float  # spread of the step-0 logits
    init_logit_std_predicted: float  # init_std·√n_embd
    initial_loss: float  # mean train-split loss at step 0
    initial_minus_ln_vocab: float
    initial_loss_expected: float  # ln V + std²/2 for Gaussian logits of that spread
    init_tolerance: float
    unigram_entropy: float  # nats: entropy of the training characters' frequencies
    unigram_train_on_val: float  # nats: those training frequencies (add-one) scored on the held-out text
    val_floor: float  # nats: unigram entropy of the held-out characters the final val loss scored
    val_loss_se: float | None  # standard error of the final val loss over its eval batches (None: one batch)
    char_counts: list[CharCount]  # most frequent first (report only)
    final_train_loss: float
    final_val_loss: float
    val_below_floor: float  # val_floor - final val loss
    val_below_floor_se: float | None  # val_below_floor in standard errors (None: no standard error)
    params: int  # unique parameters of our model
    params_formula: int
    non_embedding_params: int  # what nanoGPT would print (wpe left out)
    train_seconds: float  # the optimisation steps only, evaluations excluded
    tokens_per_second: float
    tokens_per_step: int
    curve: list[LossPoint]  # step 0, then every eval (report only)
    sample: str  # generated text (report only)
    shakespeare_char: dict  # counts on meta + the README's losses
    gpt2: dict  # counts on meta


# --- 3. measure ---------------------------------------------------------------------------------
def load_text() -> str:
    return files("n00bqa.probes.lib").joinpath(TEXT_FILE).read_text(encoding="utf-8")


def unigram_entropy(ids, vocab_size: int) -> float:
    """-Σ p ln p over the characters' frequencies in `ids` (nats)."""
    import torch

    counts = torch.bincount(ids, minlength=vocab_size).double()  # (V,)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * p.log()).sum())


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch

    from n00bqa.probes.lib.gpt import GPT, INIT_STD, GPTConfig, config_for

    # --- the data: characters -> ids, a held-out tail -------------------------------------------
    text = load_text()
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    data = torch.tensor([stoi[ch] for ch in text], dtype=torch.long)  # (N,)
    n_train = int(TRAIN_FRACTION * len(data))
    splits = {"train": data[:n_train], "val": data[n_train:]}
    V = len(chars)
    gen = torch.Generator().manual_seed(ctx.seed)

    def get_batch(split: str):
        source = splits[split]
        starts = torch.randint(len(source) - opts.block_size - 1, (opts.batch_size,), generator=gen)  # (B,)
        x = torch.stack([source[s:s + opts.block_size] for s in starts])  # (B, T)
        y = torch.stack([source[s + 1:s + 1 + opts.block_size] for s in starts])  # (B, T): shifted by one
        return x, y

    config = config_for(opts, opts.block_size, V)
    model = GPT(config)

    last_val: dict = {}  # the latest val estimate's batch losses and the characters it scored

    @torch.no_grad()
    def estimate_loss() -> dict[str, float]:
        model.eval()
        out = {}
        for split in splits:
            losses, targets = [], []
            for _ in range(opts.eval_batches):
                x, y = get_batch(split)  # (B, T), (B, T)
                losses.append(float(model(x, y)[1]))
                targets.append(y.flatten())  # (B*T,)
            out[split] = sum(losses) / opts.eval_batches
            if split == "val":
                last_val.update(losses=losses, targets=torch.cat(targets))
        model.train()
        return out

    # --- step 0: the loss before any learning ---------------------------------------------------
    with torch.no_grad():
        x, _ = get_batch("train")
        init_logits, _ = model.eval()(x)  # (B, T, V)
        init_logit_std = float(init_logits.std())
    first = estimate_loss()
    curve = [LossPoint(0, round(first["train"], 4), round(first["val"], 4))]

    # --- training: AdamW, warmup then cosine decay to a tenth, as nanoGPT's train.py ------------
    decay = [p for p in model.parameters() if p.dim() >= 2]  # matrices and tables decay; LayerNorm scales do not
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=opts.learning_rate, betas=(0.9, 0.99))
    warmup = max(1, opts.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return opts.learning_rate * (step + 1) / warmup
        progress = (step - warmup) / max(1, opts.steps - warmup)
        return opts.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    eval_every = max(1, opts.steps // opts.evals)
    advance = ctx.task("training the character-level GPT", opts.steps)
    train_seconds = 0.0
    model.train()
    for step in range(opts.steps):
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        x, y = get_batch("train")  # (B, T), (B, T)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        train_seconds += time.perf_counter() - start
        if (step + 1) % eval_every == 0 or step + 1 == opts.steps:
            losses = estimate_loss()
            if curve[-1].step != step + 1:
                curve.append(LossPoint(step + 1, round(losses["train"], 4), round(losses["val"], 4)))
        advance(1)
    final = curve[-1]

    # --- a sample: feed each drawn character back in --------------------------------------------
    sample = ""
    if opts.sample_chars:
        model.eval()
        torch.manual_seed(ctx.seed)
        prompt = torch.tensor([[stoi["\n"]]])  # (1, 1): start at a line break
        out = model.generate(prompt, opts.sample_chars, temperature=opts.temperature)[0, 1:]
        sample = "".join(chars[i] for i in out.tolist())

    # --- which characters are common: the reason the unigram entropy sits below ln V ------------
    counts = torch.bincount(splits["train"], minlength=V).tolist()  # (V,)
    order = sorted(range(V), key=lambda i: -counts[i])
    char_counts = [CharCount(repr(chars[i]), counts[i], round(counts[i] / n_train, 4)) for i in order]

    # --- counting: ours, nanoGPT's shakespeare_char, GPT-2 --------------------------------------
    shakespeare = count_on_meta(GPTConfig(**SHAKESPEARE_CHAR))
    shakespeare.update(published_val_loss=SHAKESPEARE_CHAR_PUBLISHED_VAL_LOSS,
                       published_cpu_val_loss=SHAKESPEARE_CHAR_PUBLISHED_CPU_VAL_LOSS)
    gpt2 = count_on_meta(GPTConfig(**GPT2))
    gpt2["published_params"] = GPT2_PUBLISHED_PARAMS
    gpt2["padded_vocab_size"] = GPT2_PADDED_VOCAB
    gpt2["padded_non_embedding_params"] = count_on_meta(GPTConfig(**{**GPT2, "vocab_size": GPT2_PADDED_VOCAB}))[
        "non_embedding_params"]

    ln_vocab = math.log(V)
    unigram = unigram_entropy(splits["train"], V)
    # The context-free baselines on held-out text: the training frequencies (add-one, so a character
    # unseen in training costs a finite amount) scored on the whole held-out tail, and the floor for ANY
    # context-free model on the very characters the final val loss scored: their own unigram entropy.
    q = (torch.bincount(splits["train"], minlength=V).double() + 1) / (n_train + V)  # (V,)
    train_on_val = float(-q.log()[splits["val"]].mean())
    floor = unigram_entropy(last_val["targets"], V)
    val_losses = torch.tensor(last_val["losses"], dtype=torch.float64)  # (eval_batches,)
    val_se = float(val_losses.std() / math.sqrt(len(val_losses))) if len(val_losses) > 1 else None
    tokens_per_step = opts.batch_size * opts.block_size
    return Numbers(
        text_chars=len(data), train_chars=n_train, val_chars=len(data) - n_train, vocab_size=V, ln_vocab=ln_vocab,
        init_std=INIT_STD, init_logit_std=init_logit_std, init_logit_std_predicted=INIT_STD * math.sqrt(opts.n_embd),
        initial_loss=first["train"], initial_minus_ln_vocab=first["train"] - ln_vocab,
        initial_loss_expected=ln_vocab + init_logit_std ** 2 / 2, init_tolerance=INIT_TOLERANCE,
        unigram_entropy=unigram, unigram_train_on_val=train_on_val, val_floor=floor, val_loss_se=val_se,
        char_counts=char_counts, final_train_loss=final.train, final_val_loss=final.val,
        val_below_floor=floor - final.val, val_below_floor_se=(floor - final.val) / val_se if val_se else None,
        params=model.get_num_params(non_embedding=False), params_formula=params_closed_form(config),
        non_embedding_params=model.get_num_params(),
        train_seconds=round(train_seconds, 2), tokens_per_second=round(tokens_per_step * opts.steps / train_seconds),
        tokens_per_step=tokens_per_step, curve=curve, sample=sample, shakespeare_char=shakespeare, gpt2=gpt2,
    )


# --- 4. report ----------------------------------------------------------------------------------
def loss_plot(curve: list[LossPoint]) -> str:
    """The loss curve as plain terminal text, 60 columns wide (plotext, no colour codes)."""
    import plotext as plt

    fig = plt.figure
    fig.clear()
    steps = [point.step for point in curve]
    fig.draw(fig.signal(steps, [point.train for point in curve], marker="•").label("train").lines())
    fig.draw(fig.signal(steps, [point.val for point in curve], marker="x").label("val").lines())
    fig.plot_size(60, 16)
    fig.theme("colorless")
    fig.label("step", "x")
    fig.label("loss (nats)", "y")
    fig.legend(x=steps[-1], y=max(point.train for point in curve), ha="right", va="top", relative=True)  # top right is empty
    text = fig.build().string(colorless=True)
    fig.clear()
    return "\n".join(line.rstrip() for line in text.splitlines())


def _context_sentence(n: Numbers) -> str:
    """The verdict on context, with the two context-free baselines scored on held-out text."""
    side = verdict(n.final_val_loss, n.val_floor, "above", "below", "context-free floor")
    baselines = (f"A model that ignores context scores, on the same held-out characters, at best their own unigram "
                 f"entropy {n.val_floor:.4f} (the training frequencies alone score {n.unigram_train_on_val:.4f} on the "
                 f"held-out text); the loss is {abs(n.val_below_floor):.4f} nats {side} that floor")
    if n.val_below_floor_se is None:
        return baselines + " (one eval batch gives no standard error, so no claim is made; raise --eval-batches)."
    baselines += (f" (standard error {n.val_loss_se:.4f} over the eval batches, so {abs(n.val_below_floor_se):.1f} "
                  f"standard errors {side} it). ")
    learned = verdict(n.val_below_floor_se, CONTEXT_SE, f"More than {CONTEXT_SE:g} standard errors below it",
                      f"That is NOT more than {CONTEXT_SE:g} standard errors below it", "standard errors")
    if n.val_below_floor_se > CONTEXT_SE:
        return baselines + f"{learned}, so the model uses the characters before each one."
    return baselines + (f"{learned}: no context-free model is ruled out, so the run does not show the model using "
                        "context; train longer (--steps).")


def report(n: Numbers, opts: Options) -> Report:
    near = verdict(abs(n.initial_minus_ln_vocab), n.init_tolerance, "NOT within", "within", "init tolerance")
    below = verdict(n.unigram_entropy, n.ln_vocab, "NOT below ln V", "below ln V", "ln V")
    same = verdict(abs(n.params - n.params_formula), 0, "NOT equal", "equal", "exact")
    sc, g2 = n.shakespeare_char, n.gpt2
    published = verdict(abs(g2["params"] - g2["published_params"]), 0, "NOT equal to", "equal to", "exact")
    top, rare = n.char_counts[0], n.char_counts[-1]
    findings = [
        f"The text is our own corpus notes, shipped with n00bqa: {n.text_chars:,} characters, {n.vocab_size} "
        f"distinct ones (the vocabulary V), the first {n.train_chars:,} for training and the last "
        f"{n.val_chars:,} held out for validation.",
        f"At step 0 the loss is {n.initial_loss:.4f} against ln V = ln {n.vocab_size} = {n.ln_vocab:.4f}: "
        f"{near} the tolerance {n.init_tolerance} (difference "
        f"{n.initial_minus_ln_vocab:+.4f}). Why: the output layer is the token table itself (tied), "
        f"initialised with std {n.init_std}, and ln_f hands it unit-variance vectors, so each logit has std "
        f"about {n.init_std}·√{opts.n_embd} = {n.init_logit_std_predicted:.3f} (measured "
        f"{n.init_logit_std:.3f}). Logits that spread add about std²/2 to ln V, predicting "
        f"{n.initial_loss_expected:.4f}"
        + (": the softmax is almost flat, every character gets p ≈ 1/V." if near == "within" else
           ": at this width the softmax is NOT almost flat."),
        f"A model that ignores context and knows only how often each character occurs scores, on the training "
        f"text, its unigram entropy, {n.unigram_entropy:.4f} nats: {below} = {n.ln_vocab:.4f} "
        f"because characters are not equally common "
        f"(the most frequent, {top.char}, is {top.share:.1%} of the training text; the rarest, {rare.char}, "
        f"occurs {rare.count} times).",
        f"After {opts.steps} AdamW steps of {n.tokens_per_step:,} characters ({opts.batch_size} sequences of "
        f"{opts.block_size}) in {n.train_seconds:.1f} s ({n.tokens_per_second:,.0f} characters/s on this CPU), "
        f"the held-out loss is {n.final_val_loss:.4f} (train {n.final_train_loss:.4f}). "
        + _context_sentence(n),
        f"Our GPT has {n.params:,} parameters; the closed form under the configurations table gives "
        f"{n.params_formula:,} ({same}), the tied "
        f"table counted once. nanoGPT would print get_num_params() = {n.non_embedding_params:,}: it leaves "
        f"out the position table but keeps the token table, which is also the output layer.",
        f"nanoGPT's shakespeare_char configuration, built with this same code on the meta device: "
        f"{sc['params']:,} parameters, {sc['non_embedding_params']:,} without the position table (nanoGPT "
        f"prints {sc['non_embedding_params'] / 1e6:.2f}M); closed form {sc['params_formula']:,}. Its "
        f"README reports a best validation loss of {sc['published_val_loss']} after about 3 minutes on one "
        f"A100, and {sc['published_cpu_val_loss']} for its cut-down CPU run: the loss a longer, larger run "
        f"reaches on Shakespeare, not a target for this small run on different text.",
        f"GPT-2 small through the same code: {g2['params']:,} parameters, "
        f"{published} the published "
        f"{g2['published_params']:,}; with nanoGPT's vocabulary padded to {g2['padded_vocab_size']:,} its start-up "
        f"line shows {g2['padded_non_embedding_params'] / 1e6:.2f}M.",
    ]
    if n.sample:
        findings.append("A sample, one character at a time at temperature "
                        f"{opts.temperature} (the table below keeps its line breaks): "
                        + textwrap.shorten(" ".join(n.sample.split()), 160, placeholder=" …"))
    configs = {  # each configuration's shape beside its counts
        "this run": {**opts.__dict__, "vocab_size": n.vocab_size, "params": n.params,
                     "non_embedding_params": n.non_embedding_params},
        "shakespeare_char": {**SHAKESPEARE_CHAR, **sc},
        "gpt2": {**GPT2, **g2},
    }
    tables = [
        Table.of(f"Loss during training (nats; each a mean over {opts.eval_batches} batches)", n.curve,
                 {"step": "step", "train loss": "train", "val loss": "val"}, note=loss_plot(n.curve)),
        Table.of("Configurations counted (params = unique; non-emb = nanoGPT's print, wpe left out)", configs, {
            "model": "key", "layers": "n_layer", "heads": "n_head", "width": "n_embd", "context": "block_size",
            "vocab": "vocab_size", "params": "params", "non-emb": "non_embedding_params",
        }, note="Closed form, C = width, V = vocab, L = layers: V·C + context·C + L·(12·C² + 2·C) + C "
                "without biases; biases add 11·C per block and C for ln_f. The tied head adds nothing."),
        Table.of("Characters by frequency in the training text (most common and rarest)",
                 n.char_counts[:5] + n.char_counts[-3:], {"char": "char", "count": "count", "share": "share"}),
    ]
    if n.sample:
        lines = [piece for line in n.sample.split("\n") for piece in (textwrap.wrap(line, 60) or [""])]
        tables.append(Table(f"Generated sample ({len(n.sample)} characters, temperature {opts.temperature})",
                            ["text"], [[line] for line in lines]))
    return Report(
        summary=(f"A {n.params:,}-parameter GPT written like nanoGPT starts at loss {n.initial_loss:.3f} (ln "
                 f"{n.vocab_size} = {n.ln_vocab:.3f}) and reaches {n.final_val_loss:.3f} held out in "
                 f"{n.train_seconds:.1f} s, against {n.val_floor:.3f} for character frequencies alone on the same "
                 "held-out characters."),
        findings=findings,
        tables=tables,
        model=f"our GPT ({opts.n_layer} layers, {opts.n_head} heads, width {opts.n_embd}), trained here",
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="nanogpt",
    question="gpt-from-scratch",
    title="A GPT from scratch in nanoGPT's order, trained on our notes: loss from ln V down, a sample, exact counts",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a tiny model: one thread is faster than two (see Probe.threads)
    predictions=(
        Prediction("Before any training, what loss does a character-level GPT with our notes' vocabulary show?",
                   "initial_loss", "nats"),
        Prediction("How many parameters does nanoGPT's shakespeare_char model have (its start-up print)?",
                   "shakespeare_char.non_embedding_params", "parameters", scoring="log10"),
        Prediction("After the default training run, what held-out loss does it reach?", "final_val_loss", "nats"),
    ),
)
