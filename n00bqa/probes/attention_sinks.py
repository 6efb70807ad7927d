"""Why does a trained LLM pour attention onto the first token, and what breaks when a window drops it?

Softmax makes every head's weights sum to 1, so a head with nothing to look at must still put its
weight somewhere; a trained decoder learns to park it on the first token, the one position every later
token sees (Xiao et al., 2023, StreamingLLM, call it an attention sink). The probe, on real text (our
notes, as the nanogpt probe ships them):

1. measures the share of attention each layer gives the first token (mean over heads and over the
   query positions after it), against what uniform attention would give;
2. measures the loss of three caches over the same text, each token predicted once: the full context;
   a sliding window of the last `window` tokens (the first token evicted as soon as it falls out); and
   StreamingLLM's cache, the first `sinks` tokens kept plus the last `window - sinks` (the same budget).
   A banded attention mask over one forward pass is exactly a KV cache that evicts old tokens: each
   token's keys and values were computed with the window it had when it came;
3. does 1-2 again on a random-weight twin of the same config, the control.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

SINK_SHARE = 0.5  # a layer whose first token draws at least half the attention is a sink layer
Z_THRESHOLD = 3.0  # paired test: the window's extra loss counts when mean / standard error >= this


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    tokens: int = field(default=192, metadata={"help": "Tokens of text read (from our notes)."})  # ~35 s on 2 cores
    window: int = field(default=64, metadata={"help": "The cache budget in tokens: the sliding window's size."})
    sinks: int = field(default=4, metadata={"help": "First tokens StreamingLLM keeps inside the budget."})
    model: str | None = field(default=None, metadata={"help": "A local Hugging Face folder or a .gguf file "
                                                             "(default: the bundled SmolLM2-135M-Instruct)."})


def check(opts: Options) -> None:
    from n00bqa.errors import ProbeError

    check_ranges(opts, {"tokens": (32, 1024), "window": (8, 512, "tokens"), "sinks": (1, 16, "tokens")})
    if opts.window + 16 > opts.tokens:
        raise ProbeError(f"--window {opts.window} leaves fewer than 16 tokens of --tokens {opts.tokens} to "
                         f"predict past it; raise --tokens to {opts.window + 16} or more")
    if opts.sinks >= opts.window:
        raise ProbeError(f"--sinks {opts.sinks} must be smaller than --window {opts.window}")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Layer:
    trained: float  # mean attention the first token gets in this layer, trained model
    twin: float  # the same in the random-weight twin


@dataclass
class CacheLoss:
    full: float  # mean loss (nats) over the predicted positions, whole context visible
    window: float  # sliding window: only the last `window` tokens
    sinks_window: float  # StreamingLLM: the first `sinks` tokens + the last `window - sinks`
    window_extra: float  # window - sinks_window, the cost of evicting the sink
    window_extra_se: float  # its standard error over positions (paired)
    window_extra_z: float  # window_extra / window_extra_se


@dataclass
class Numbers:
    layers: dict[int, Layer]
    layer_count: int
    uniform_share: float  # what uniform causal attention would give the first token, same positions
    sink_layers_trained: int  # layers with share >= SINK_SHARE
    sink_layers_twin: int
    median_share_trained: float
    median_share_twin: float
    median_over_uniform: float  # median_share_trained / uniform_share
    trained: CacheLoss
    twin: CacheLoss
    predicted: int  # positions whose loss is averaged (those past the first `window`)
    sink_share: float
    z_threshold: float
    text_tokens: int
    model: str = ""


# --- 3. measure ---------------------------------------------------------------------------------
def first_token_share(model, ids):
    """Per layer, the mean attention weight on position 0 from positions 1..T-1 (all heads)."""
    import torch

    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions  # layers x (1, H, T, T)
    return [a[0, :, 1:, 0].mean().item() for a in attentions]  # (H, T-1) -> mean


def cache_mask(n: int, window: int, sinks: int, dtype):
    """(1, 1, T, T) additive mask: row t sees the last `window - sinks` tokens up to t, plus the first
    `sinks` tokens (sinks=0: a plain sliding window of `window`; window=n: the full context)."""
    import torch

    t = torch.arange(n)
    diff = t[:, None] - t[None, :]  # (T, T): query minus key
    recent = (diff >= 0) & (diff < window - sinks)
    kept = (t[None, :] < sinks) & (diff >= 0)
    mask = torch.zeros(n, n, dtype=dtype)
    mask[~(recent | kept)] = torch.finfo(dtype).min
    return mask[None, None]


def per_token_loss(model, ids, mask):
    """(T-1,) next-token losses with the given additive attention mask."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = model(ids, attention_mask=mask).logits[0, :-1]  # (T-1, V)
    return F.cross_entropy(logits, ids[0, 1:], reduction="none")  # (T-1,)


def cache_losses(model, ids, opts: Options) -> CacheLoss:
    import torch

    n = ids.shape[1]
    start = opts.window  # from here on the window has evicted something; earlier all three agree
    full = per_token_loss(model, ids, cache_mask(n, n, 0, torch.float32))[start:]
    window = per_token_loss(model, ids, cache_mask(n, opts.window, 0, torch.float32))[start:]
    kept = per_token_loss(model, ids, cache_mask(n, opts.window, opts.sinks, torch.float32))[start:]
    extra = window - kept  # (positions,) paired differences
    se = (extra.std() / extra.numel() ** 0.5).item()
    return CacheLoss(full.mean().item(), window.mean().item(), kept.mean().item(), extra.mean().item(), se,
                     extra.mean().item() / se if se > 0 else 0.0)


def measure(opts: Options, ctx: Context) -> Numbers:
    import statistics

    import torch
    from transformers import AutoModelForCausalLM

    from n00bqa.probes.lib.causal_lm import load_causal_lm
    from n00bqa.probes.lib.data import nanogpt_text

    advance = ctx.task("Attention sinks", 5)
    lm = load_causal_lm(opts.model or None, progress=lambda message: ctx.task(message, 1))
    model, description = lm.model, lm.description
    model.set_attn_implementation("eager")  # attention weights we can read (sdpa returns none)
    ids = lm.tokenizer(nanogpt_text(), return_tensors="pt").input_ids[:, : opts.tokens]  # (1, T)
    n = ids.shape[1]
    advance()

    # 1. The share of attention on the first token, layer by layer.
    trained_share = first_token_share(model, ids)
    advance()
    # 2. The three caches. sdpa takes the same additive mask (it agrees with eager to ~2e-5 nats) and
    # runs faster; only the attention weights above needed eager.
    model.set_attn_implementation("sdpa")
    trained = cache_losses(model, ids, opts)
    advance()

    # 3. The control: a random-weight twin of the same config.
    config = model.config
    del lm, model  # our names only: load_causal_lm keeps the model for the next run
    torch.manual_seed(ctx.seed)
    twin = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    twin.set_attn_implementation("eager")
    twin_share = first_token_share(twin, ids)
    twin.set_attn_implementation("sdpa")
    advance()
    twin_loss = cache_losses(twin, ids, opts)
    del twin
    advance()

    uniform = sum(1.0 / (q + 1) for q in range(1, n)) / (n - 1)  # query q sees q+1 tokens
    return Numbers(
        layers={i: Layer(a, b) for i, (a, b) in enumerate(zip(trained_share, twin_share))},
        layer_count=len(trained_share),
        uniform_share=uniform,
        sink_layers_trained=sum(s >= SINK_SHARE for s in trained_share),
        sink_layers_twin=sum(s >= SINK_SHARE for s in twin_share),
        median_share_trained=statistics.median(trained_share),
        median_share_twin=statistics.median(twin_share),
        median_over_uniform=statistics.median(trained_share) / uniform,
        trained=trained,
        twin=twin_loss,
        predicted=n - 1 - opts.window,
        sink_share=SINK_SHARE,
        z_threshold=Z_THRESHOLD,
        text_tokens=n,
        model=description,
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    layers = n.layer_count

    def cost_sentence(name: str, c: CacheLoss) -> str:
        # "costs more than noise" at z >= threshold: the threshold is the value tested against z
        word = verdict(n.z_threshold, c.window_extra_z, "is within noise", "costs more than noise", "z")
        return (f"{name}: full context {c.full:.2f} nats, sliding window {c.window:.2f}, first {opts.sinks} "
                f"kept + window {c.sinks_window:.2f}; evicting the first tokens costs {c.window_extra:+.3f} "
                f"nats (z = {c.window_extra_z:.1f}, threshold {n.z_threshold:g}): it {word}.")

    findings = [
        f"On {n.text_tokens} tokens of our notes, the trained model ({n.model}) gives the first token at "
        f"least {n.sink_share:.0%} of its attention in {n.sink_layers_trained} of its {layers} layers; the "
        f"median layer gives it {n.median_share_trained:.0%}, {n.median_over_uniform:.0f} times the "
        f"{n.uniform_share:.1%} uniform attention would.",
        f"The random-weight twin gives it at least {n.sink_share:.0%} in {n.sink_layers_twin} layers "
        f"(median {n.median_share_twin:.1%}): "
        + verdict(n.sink_layers_trained, n.sink_layers_twin, "the sink comes from training.",
                  "random weights make sinks as often: this is NOT shown to come from training.",
                  "the twin's sink layers"),
        f"Caches of {opts.window} tokens over the {n.predicted} positions past the first window. "
        + cost_sentence("Trained", n.trained),
        cost_sentence("Random twin", n.twin),
    ]
    tables = [
        Table.of("Attention on the first token, by layer", n.layers,
                 {"layer": "key", "trained": lambda _, r: f"{r.trained:.1%}", "twin": lambda _, r: f"{r.twin:.1%}",
                  "sink": lambda _, r: verdict(n.sink_share, r.trained, "no", "yes", "sink share")},
                 note=f"uniform attention: {n.uniform_share:.1%}; sink: trained share >= {n.sink_share:.0%}"),
        Table.of("Loss by cache (nats)", {"trained": n.trained, "random twin": n.twin},
                 {"model": "key", "full": lambda _, c: round(c.full, 3), "window": lambda _, c: round(c.window, 3),
                  "sinks+window": lambda _, c: round(c.sinks_window, 3),
                  "extra": lambda _, c: round(c.window_extra, 3), "z": lambda _, c: round(c.window_extra_z, 1)}),
    ]
    return Report(
        summary=f"The first token draws at least {n.sink_share:.0%} of the attention in {n.sink_layers_trained} "
                f"of {layers} layers; a window that evicts it costs {n.trained.window_extra:+.3f} nats.",
        findings=findings,
        tables=tables,
        model=n.model,
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="attention-sinks",
    question="llm-heads",
    title="Attention sinks in SmolLM2: attention on the first token by layer, a window that evicts it",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # one thread: on a busy 2-core machine the second one made these forwards slower, not faster
    predictions=(
        Prediction("In how many of SmolLM2's 30 layers does the first token draw at least half the attention?",
                   "sink_layers_trained", "layers"),
        Prediction("How many nats does a 64-token sliding window lose by evicting the first tokens?",
                   "trained.window_extra", "nats"),
    ),
)
