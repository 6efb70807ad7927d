"""How does a trained LLM's next-token guess form, layer by layer (the logit lens)?

A decoder turns its last hidden state into the next token with two steps: the final norm, then the
unembedding (SmolLM2's is tied: the token table itself). The logit lens (nostalgebraist, 2020) applies
those same two steps to the residual stream after every layer, as if the model stopped there. The probe,
on several short prompts:

1. records the residual stream at the last position after the embedding and after each layer;
2. reads it through the final norm and the head: the rank of the model's eventual next token (its
   final top-1) and the KL divergence from the final distribution, layer by layer;
3. finds the first layer where the eventual token is already top-1, per prompt;
4. checks that the lens at the last layer is the model's own logits (it must be: same steps);
5. does it all on a random-weight twin of the same config, the control.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

FLAT_SHARE = 0.95  # a distribution whose entropy is at least this share of ln(vocab) is flat
TOLERANCE = 1e-4  # fp32 logits of size ~10-30 recomputed from the same tensors agree to about this
PROMPTS = (  # our own: short prompts whose next token a small model knows
    "The capital of France is",
    "Monday, Tuesday, Wednesday,",
    "The opposite of hot is",
    "The cat sat on the",
    "import numpy as",
    "Twinkle, twinkle, little",
    "Water is made of hydrogen and",
    "A B C D E F",
)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    prompts: int = field(default=8, metadata={"help": f"How many of the {len(PROMPTS)} built-in prompts to read."})
    prompt: str = field(default="", metadata={"help": "Your own prompt, read instead of the built-in ones."})
    model: str | None = field(default=None, metadata={"help": "A local Hugging Face folder or a .gguf file "
                                                             "(default: the bundled SmolLM2-135M-Instruct)."})


def check(opts: Options) -> None:
    from n00bqa.errors import ProbeError

    check_ranges(opts, {"prompts": (1, len(PROMPTS))})
    if opts.prompt and (not opts.prompt.strip() or len(opts.prompt) > 2000):
        raise ProbeError("--prompt must hold some text and at most 2000 characters")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class PromptLens:
    prompt: str
    eventual: str  # the model's final top-1 token, as text
    first_top1: int  # first layer (0 = the embedding) where the lens already ranks it first
    twin_first_top1: int  # the same in the random twin (its own eventual token)
    ranks: list[int]  # rank (1 = top) of the eventual token at each layer 0..L
    kls: list[float]  # KL(final || lens) at each layer, nats


@dataclass
class LayerLens:
    median_rank: float  # over prompts, of the eventual token
    mean_kl: float  # nats, KL(final || lens)
    top1: int  # prompts where the eventual token is already top-1
    twin_median_rank: float
    twin_mean_kl: float


@dataclass
class Numbers:
    layers: int
    prompts: list[PromptLens]
    by_layer: dict[int, LayerLens]  # 0 = the embedding, L = the last layer
    median_first_top1: float
    twin_median_first_top1: float
    halfway_kl: float  # mean KL at layer L // 2
    twin_halfway_kl: float
    last_layer_max_diff: float  # |lens at layer L - model logits|, largest over prompts and vocab
    twin_last_layer_max_diff: float
    final_entropy: float  # mean over prompts of the final distribution's entropy, nats
    twin_final_entropy: float
    uniform_entropy: float  # ln(vocab)
    flat_share: float  # FLAT_SHARE
    flat_entropy: float  # flat_share * uniform_entropy: a final entropy at least this is flat
    tolerance: float
    model: str = ""


# --- 3. measure ---------------------------------------------------------------------------------
def read_lens(model, ids):
    """The lens at the last position after the embedding and every layer.

    Args:
        ids: (1, T) token ids.
    Returns:
        (lens_logits (L+1, V), model_logits (V,)): row l is head(norm(residual after layer l)).
    """
    import torch

    # Hooks, not output_hidden_states: transformers' last hidden state has the final norm already
    # applied, and the lens must apply it to every layer alike.
    streams = []  # the residual stream at the last position, (D,) each
    inner = model.model
    hooks = [inner.embed_tokens.register_forward_hook(lambda m, args, out: streams.append(out[0, -1]))]
    for layer in inner.layers:  # a decoder layer returns the residual stream (a tensor, or a tuple)
        hooks.append(layer.register_forward_hook(
            lambda m, args, out: streams.append((out[0] if isinstance(out, tuple) else out)[0, -1])))
    try:
        with torch.no_grad():
            logits = model(ids).logits[0, -1]  # (V,)
            residual = torch.stack(streams)  # (L+1, D)
            lens = model.lm_head(inner.norm(residual))  # (L+1, D) -> norm -> (L+1, V)
    finally:
        for hook in hooks:
            hook.remove()
    return lens, logits


def ranks_and_kls(lens, logits):
    """Rank of the final top-1 token and KL(final || lens), per layer; and the final entropy."""
    import torch

    eventual = logits.argmax().item()
    ranks = (lens > lens[:, eventual:eventual + 1]).sum(dim=1) + 1  # (L+1,): tokens scored above it, + 1
    final = torch.log_softmax(logits, dim=-1)  # (V,)
    each = torch.log_softmax(lens, dim=-1)  # (L+1, V)
    kls = (final.exp() * (final - each)).sum(dim=-1)  # (L+1,)
    entropy = -(final.exp() * final).sum().item()
    return eventual, ranks.tolist(), kls.tolist(), entropy


def first_top1(ranks: list[int]) -> int:
    return next(layer for layer, rank in enumerate(ranks) if rank == 1)  # the last layer always is


def measure(opts: Options, ctx: Context) -> Numbers:
    import math

    import torch
    from transformers import AutoModelForCausalLM

    from n00bqa.probes.lib.causal_lm import load_causal_lm

    texts = [opts.prompt] if opts.prompt else list(PROMPTS[: opts.prompts])
    advance = ctx.task("Logit lens", 2 * len(texts) + 1)
    lm = load_causal_lm(opts.model or None, progress=lambda message: ctx.task(message, 1))
    model, tokenizer, description = lm.model, lm.tokenizer, lm.description
    n_layers = model.config.num_hidden_layers
    advance()

    # 1-4 on the trained model.
    records, entropies, last_diff = [], [], 0.0
    for text in texts:
        ids = tokenizer(text, return_tensors="pt").input_ids  # (1, T)
        lens, logits = read_lens(model, ids)
        last_diff = max(last_diff, (lens[-1] - logits).abs().max().item())
        eventual, ranks, kls, entropy = ranks_and_kls(lens, logits)
        entropies.append(entropy)
        records.append(PromptLens(text, tokenizer.decode([eventual]), first_top1(ranks), -1, ranks, kls))
        advance()

    # 5. The control: a random-weight twin of the same config, its own eventual tokens.
    config = model.config
    del lm, model  # our names only: load_causal_lm keeps the model for the next run
    torch.manual_seed(ctx.seed)
    twin = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    twin_ranks, twin_kls, twin_entropies, twin_diff = [], [], [], 0.0
    for record in records:
        ids = tokenizer(record.prompt, return_tensors="pt").input_ids
        lens, logits = read_lens(twin, ids)
        twin_diff = max(twin_diff, (lens[-1] - logits).abs().max().item())
        _, ranks, kls, entropy = ranks_and_kls(lens, logits)
        twin_entropies.append(entropy)
        record.twin_first_top1 = first_top1(ranks)
        twin_ranks.append(ranks)
        twin_kls.append(kls)
        advance()
    del twin

    by_layer = {}
    for layer in range(n_layers + 1):
        by_layer[layer] = LayerLens(
            median_rank=statistics.median(r.ranks[layer] for r in records),
            mean_kl=statistics.fmean(r.kls[layer] for r in records),
            top1=sum(r.ranks[layer] == 1 for r in records),
            twin_median_rank=statistics.median(r[layer] for r in twin_ranks),
            twin_mean_kl=statistics.fmean(k[layer] for k in twin_kls),
        )
    return Numbers(
        layers=n_layers,
        prompts=records,
        by_layer=by_layer,
        median_first_top1=statistics.median(r.first_top1 for r in records),
        twin_median_first_top1=statistics.median(r.twin_first_top1 for r in records),
        halfway_kl=by_layer[n_layers // 2].mean_kl,
        twin_halfway_kl=by_layer[n_layers // 2].twin_mean_kl,
        last_layer_max_diff=last_diff,
        twin_last_layer_max_diff=twin_diff,
        final_entropy=statistics.fmean(entropies),
        twin_final_entropy=statistics.fmean(twin_entropies),
        uniform_entropy=math.log(config.vocab_size),
        flat_share=FLAT_SHARE,
        flat_entropy=FLAT_SHARE * math.log(config.vocab_size),
        tolerance=TOLERANCE,
        model=description,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    half = n.layers // 2
    equal = verdict(max(n.last_layer_max_diff, n.twin_last_layer_max_diff), n.tolerance, "does NOT equal", "equals",
                    "tolerance")
    count = len(n.prompts)
    # "flat" at an entropy of at least flat_entropy: the threshold is the value tested against the entropy
    flat = verdict(n.flat_entropy, n.twin_final_entropy, f"below {n.flat_share:.0%} of uniform ({n.flat_entropy:.2f})",
                   f"at least {n.flat_share:.0%} of uniform ({n.flat_entropy:.2f})", "flat entropy")
    findings = [
        f"Read through the final norm and the tied head, the residual stream after the last layer {equal} the "
        f"model's own logits within {n.tolerance:g} (largest difference {n.last_layer_max_diff:.2g}; "
        f"twin {n.twin_last_layer_max_diff:.2g})"
        + (": the lens is the model's own last step." if equal == "equals" else
           ": so the lens is NOT exactly the model's own last step."),
        f"On {count} prompt{'s' if count > 1 else ''}, the trained model ({n.model}) first ranks its eventual next token top-1 at layer "
        f"{n.median_first_top1:g} of {n.layers} (median; layer 0 is the embedding). Halfway, at layer {half}, "
        f"the lens is still {n.halfway_kl:.2f} nats (mean KL) from the final distribution, and the eventual "
        f"token's median rank is {n.by_layer[half].median_rank:g}.",
        f"The random-weight twin's final distribution has an entropy of {n.twin_final_entropy:.2f} nats (a "
        f"uniform one: {n.uniform_entropy:.2f}; the trained model's: {n.final_entropy:.2f}), "
        + (f"{flat}: flat, so its small KL at layer {half} "
           f"({n.twin_halfway_kl:.2f} nats) says only that flat stays flat; "
           if flat.startswith("at least") else f"{flat}: NOT flat; ")
        + f"its arbitrary top token is top-1 from layer {n.twin_median_first_top1:g} (median).",
    ]
    shown = sorted({0, 1, half, *range(2, n.layers + 1, 2), n.layers})  # half: the finding's halfway layer
    tables = [
        Table.of("Per prompt", n.prompts,
                 {"prompt": "prompt", "next token": lambda _, r: repr(r.eventual),
                  "top-1 from layer": "first_top1", "twin": "twin_first_top1"}),
        Table.of("Layer by layer (trained | random twin)", {k: n.by_layer[k] for k in shown},
                 {"layer": "key", "median rank": "median_rank", "mean KL": lambda _, r: round(r.mean_kl, 2),
                  "top-1": lambda _, r: f"{r.top1}/{count}", "twin rank": "twin_median_rank",
                  "twin KL": lambda _, r: round(r.twin_mean_kl, 2)},
                 note="rank of the eventual next token (1 = top); KL(final || lens) in nats"),
    ]
    return Report(
        summary=f"The next token becomes top-1 at layer {n.median_first_top1:g} of {n.layers} (median over "
                f"{count} prompts); the lens at the last layer {equal} the model's own logits.",
        findings=findings,
        tables=tables,
        model=n.model,
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="logit-lens",
    question="next-token",
    title="The logit lens on SmolLM2: the next token's rank and KL layer by layer, random twin",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # one thread: on a busy 2-core machine the second one made these forwards slower, not faster
    predictions=(
        Prediction("At which of SmolLM2's 30 layers does its next token first become top-1 (median)?",
                   "median_first_top1", "layer"),
        Prediction("How many nats (KL) is the halfway layer's guess from the final distribution?",
                   "halfway_kl", "nats"),
    ),
)
