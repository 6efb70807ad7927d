"""Does a trained LLM have induction heads: heads that copy what followed a token last time?

Show SmolLM2 a block of random tokens twice. Nothing it learned can predict the first copy, so its
loss there is about that of a guess; on the second copy every token can be read off the first one, and
a model with induction heads uses that: the loss falls. An induction head, at a token of the second
copy, attends to the token that came after the same token in the first copy (Olsson et al., 2022). The
probe:

1. measures the loss per position on the first and on the second copy (the drop between them);
2. scores every head: its mean attention from each token of the second copy to the token after that
   token's earlier occurrence (a head that only did this would score 1);
3. zeroes the output of the k best heads (a forward pre-hook on `o_proj` zeroing that head's 64 input
   columns) and measures how much of the drop disappears, against k heads drawn at random, several
   times;
4. does 1-2 again on a random-weight twin of the same config: the control. Random weights have no
   heads that copy, so their loss stays a guess on both copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

DROP_THRESHOLD = 1.0  # nats: a second copy at least this much easier than the first counts as a drop
FIRST_TOKEN_ID = 100  # random tokens are drawn from [100, vocab): above SmolLM2's special tokens
SHOWN_HEADS = 8  # rows of the top-heads table


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    sequences: int = field(default=2, metadata={"help": "How many random sequences (the batch)."})
    length: int = field(default=50, metadata={"help": "Random tokens per copy; each sequence is two copies."})
    ablate: int = field(default=8, metadata={"help": "How many heads to zero: the top ones, then random ones."})
    draws: int = field(default=4, metadata={"help": "How many random sets of heads to zero, as the control."})
    model: str | None = field(default=None, metadata={"help": "A local Hugging Face folder or a .gguf file "
                                                             "(default: the bundled SmolLM2-135M-Instruct)."})


def check(opts: Options) -> None:
    check_ranges(opts, {"sequences": (1, 16), "length": (8, 400, "tokens"), "ablate": (1, 32),
                        "draws": (1, 20)})


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class CopyLoss:
    first_copy: float  # mean next-token loss (nats) predicting tokens 2..L of the first copy
    second_copy: float  # the same on the second copy, where the first copy gives every answer away
    drop: float  # first_copy - second_copy
    guess: float  # ln(vocab): the loss of a uniform guess
    top_score: float  # the best head's induction score


@dataclass
class Head:
    layer: int
    head: int
    score: float  # mean attention from second-copy token j to first-copy token j+1


@dataclass
class Ablation:
    second_copy: float  # loss on the second copy with these heads zeroed
    drop: float  # first-copy loss - second-copy loss, with these heads zeroed
    removed: float  # share of the clean drop that disappeared: (clean drop - drop) / clean drop


@dataclass
class Numbers:
    heads_total: int  # layers x query heads
    layers: int
    trained: CopyLoss
    twin: CopyLoss
    top_heads: list[Head]  # best first
    best_by_layer: dict[int, float]  # layer -> its best head's score
    top_ablation: Ablation  # the `ablate` best heads zeroed
    random_ablations: list[Ablation]  # `draws` random sets of `ablate` heads zeroed
    random_removed_max: float
    random_removed_mean: float
    top_beats_every_draw: bool  # top_ablation.removed > random_removed_max
    drop_threshold: float
    model: str = ""


# --- 3. measure ---------------------------------------------------------------------------------
def copy_losses(model, tokens, length: int, attentions: bool = False):
    """Per-position loss on each copy, and every layer's attention if asked (the model must be eager).

    Args:
        tokens: (B, 2L) random tokens, the second half equal to the first.
    Returns:
        (first-copy loss, second-copy loss, attentions): attentions is a tuple of (B, H, 2L, 2L), one per
        layer, or None.
    """
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        out = model(tokens, output_attentions=attentions)
    logits = out.logits[:, :-1]  # (B, 2L-1, V): position i predicts token i+1
    loss = F.cross_entropy(logits.transpose(1, 2), tokens[:, 1:], reduction="none")  # (B, 2L-1)
    first = loss[:, : length - 1].mean().item()  # targets 1..L-1: inside the first copy
    second = loss[:, length:].mean().item()  # targets L+1..2L-1: each one shown once before
    return first, second, out.attentions if attentions else None


def induction_scores(attentions, length: int):
    """(layers, H) scores: attention from second-copy token j (position L+j) to position j+1."""
    import torch

    j = torch.arange(length - 1)  # the token at L+j is the token at j; the next one was at j+1
    # (B, H, 2L, 2L)[..., L+j, j+1] -> (B, H, L-1) -> mean -> (H,), one row per layer
    return torch.stack([a[:, :, length + j, j + 1].mean(dim=(0, 2)) for a in attentions])


def loss_with_heads_zeroed(model, tokens, length: int, heads, head_dim: int) -> tuple[float, float]:
    """First- and second-copy loss with the given (layer, head) outputs zeroed.

    A head's output enters o_proj as columns h*head_dim..(h+1)*head_dim of its input (B, T, H*head_dim),
    so zeroing that slice before o_proj removes exactly that head's contribution.
    """
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def zero_heads(chosen):
        def hook(module, args):
            x = args[0].clone()  # (B, T, H*head_dim)
            for h in chosen:
                x[..., h * head_dim:(h + 1) * head_dim] = 0.0
            return (x,)
        return hook

    layers = model.model.layers
    handles = [layers[i].self_attn.o_proj.register_forward_pre_hook(zero_heads(hs)) for i, hs in by_layer.items()]
    try:
        first, second, _ = copy_losses(model, tokens, length)
    finally:
        for handle in handles:
            handle.remove()
    return first, second


def ablation(model, tokens, length: int, heads, head_dim: int, clean_drop: float) -> Ablation:
    """The losses with `heads` zeroed, and the share of the clean drop that disappears."""
    first, second = loss_with_heads_zeroed(model, tokens, length, heads, head_dim)
    return Ablation(second_copy=second, drop=first - second, removed=(clean_drop - (first - second)) / clean_drop)


def measure(opts: Options, ctx: Context) -> Numbers:
    import math

    import torch
    from transformers import AutoModelForCausalLM

    from n00bqa.probes.lib.causal_lm import load_causal_lm

    advance = ctx.task("Induction heads", 4 + opts.draws)
    lm = load_causal_lm(opts.model or None, progress=lambda message: ctx.task(message, 1))
    model, description = lm.model, lm.description
    config = model.config
    n_layers, n_heads = config.num_hidden_layers, config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    advance()

    # 1. Random tokens, shown twice.
    gen = torch.Generator().manual_seed(ctx.seed)
    block = torch.randint(FIRST_TOKEN_ID, config.vocab_size, (opts.sequences, opts.length), generator=gen)  # (B, L)
    tokens = torch.cat([block, block], dim=1)  # (B, 2L)
    model.set_attn_implementation("eager")  # the weights themselves: sdpa returns no attention
    first, second, attentions = copy_losses(model, tokens, opts.length, attentions=True)
    model.set_attn_implementation("sdpa")  # the ablations need only the loss: the faster kernel
    advance()

    # 2. Induction score per head.
    scores = induction_scores(attentions, opts.length)  # (layers, H)
    del attentions
    order = scores.flatten().argsort(descending=True).tolist()
    ranked = [Head(i // n_heads, i % n_heads, scores.flatten()[i].item()) for i in order]
    best_by_layer = {layer: scores[layer].max().item() for layer in range(n_layers)}

    # 3. Zero the top k heads, then k random heads (drawn from the others), several times.
    clean_drop = first - second

    top = ranked[: opts.ablate]
    top_ablation = ablation(model, tokens, opts.length, [(h.layer, h.head) for h in top], head_dim, clean_drop)
    advance()
    others = [(h.layer, h.head) for h in ranked[opts.ablate:]]
    random_ablations = []
    for _ in range(opts.draws):
        pick = torch.randperm(len(others), generator=gen)[: opts.ablate].tolist()
        random_ablations.append(ablation(model, tokens, opts.length, [others[i] for i in pick], head_dim, clean_drop))
        advance()
    random_removed = [a.removed for a in random_ablations]

    # 4. The control: a random-weight twin of the same config, on the same tokens.
    del lm, model  # our names only: load_causal_lm keeps the model for the next run
    torch.manual_seed(ctx.seed)
    twin = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    twin.set_attn_implementation("eager")
    t_first, t_second, t_attn = copy_losses(twin, tokens, opts.length, attentions=True)
    t_top = induction_scores(t_attn, opts.length).max().item()
    del t_attn, twin
    advance()

    guess = math.log(config.vocab_size)
    return Numbers(
        heads_total=n_layers * n_heads,
        layers=n_layers,
        trained=CopyLoss(first, second, clean_drop, guess, ranked[0].score),
        twin=CopyLoss(t_first, t_second, t_first - t_second, guess, t_top),
        top_heads=ranked[: max(SHOWN_HEADS, opts.ablate)],
        best_by_layer=best_by_layer,
        top_ablation=top_ablation,
        random_ablations=random_ablations,
        random_removed_max=max(random_removed),
        random_removed_mean=sum(random_removed) / len(random_removed),
        top_beats_every_draw=top_ablation.removed > max(random_removed),
        drop_threshold=DROP_THRESHOLD,
        model=description,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    t, w = n.trained, n.twin
    # "at least the threshold" (a drop equal to it counts): the threshold is the value tested against the drop
    real_drop = verdict(n.drop_threshold, t.drop, "less than", "at least", "drop, nats")
    twin_drop = verdict(n.drop_threshold, w.drop, "below", "at least", "drop, nats")
    beats = verdict(n.top_ablation.removed, n.random_removed_max,
                    "the top heads remove more than every random draw",
                    "the top heads do NOT remove more than every random draw", "largest random removal")
    k = opts.ablate
    top = n.top_heads[0]
    layers_with_strong = sorted({h.layer for h in n.top_heads[:k]})
    findings = [
        f"On {opts.sequences} sequences of {opts.length} random tokens shown twice, the trained model's "
        f"loss is {t.first_copy:.2f} nats on the first copy (a uniform guess: {t.guess:.2f}) and "
        f"{t.second_copy:.2f} on the second: a drop of {t.drop:.2f} nats, {real_drop} the "
        f"{n.drop_threshold:g}-nat threshold, so it "
        + ("copies from the first copy." if real_drop == "at least" else "does not copy from the first copy."),
        f"The random-weight twin (same config) scores {w.first_copy:.2f} and {w.second_copy:.2f}: a drop of "
        f"{w.drop:.2f} nats, {twin_drop} the {n.drop_threshold:g}-nat threshold: "
        + ("random weights copy too." if twin_drop == "at least" else
           "random weights do not copy; training made the heads that do." if real_drop == "at least" else
           "random weights do not copy either."),
        f"The best induction head is layer {top.layer} head {top.head}: from each second-copy token it puts "
        f"{top.score:.0%} of its attention on the token after the earlier occurrence (the twin's best head: "
        f"{w.top_score:.1%}). The top {k} heads sit in layers {', '.join(map(str, layers_with_strong))}.",
        f"Zeroing those top {k} of the {n.heads_total} heads removes {n.top_ablation.removed:.0%} of the drop "
        f"(second-copy loss {n.top_ablation.second_copy:.2f}); zeroing {k} random heads removes "
        f"{n.random_removed_mean:.0%} on average over {opts.draws} draws, {n.random_removed_max:.0%} at most: "
        + f"{beats}.",
    ]
    tables = [
        Table.of("Loss per copy (nats)", {"trained": t, "random twin": w},
                 {"model": "key", "first copy": lambda _, c: round(c.first_copy, 2),
                  "second copy": lambda _, c: round(c.second_copy, 2), "drop": lambda _, c: round(c.drop, 2),
                  "best head": lambda _, c: f"{c.top_score:.1%}"}),
        Table.of("Top induction heads (trained)", n.top_heads,
                 {"rank": lambda i, _: i + 1, "layer": "layer", "head": "head",
                  "score": lambda _, h: f"{h.score:.1%}"},
                 note="score: mean attention from a second-copy token to the token after its first occurrence"),
        Table.of("Zeroing heads", {f"top {k}": n.top_ablation,
                                   **{f"random {i + 1}": a for i, a in enumerate(n.random_ablations)}},
                 {"heads zeroed": "key", "second copy": lambda _, a: round(a.second_copy, 2),
                  "drop": lambda _, a: round(a.drop, 2), "drop removed": lambda _, a: f"{a.removed:.0%}"}),
    ]
    return Report(
        summary=f"Random tokens repeated: the loss drops {t.drop:.2f} nats on the second copy in the trained "
                f"model, {w.drop:.2f} in its random twin.",
        findings=findings,
        tables=tables,
        model=n.model,
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="induction",
    question="llm-heads",
    title="Induction heads in SmolLM2: repeated random tokens, head scores, ablation, random twin",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # one thread: on a busy 2-core machine the second one made these forwards slower, not faster
    predictions=(
        Prediction("Random tokens shown twice: how many nats lower is SmolLM2's loss on the second copy?",
                   "trained.drop", "nats"),
        Prediction("What share of its attention does the best induction head put on the token to copy?",
                   "trained.top_score", "(0-1)"),
    ),
)
