"""How large is a transformer model? How much of it is dense, and how much is sparse?

Builds well-known architectures from their published configurations on PyTorch's `meta` device
(shapes only: no memory, no download) and counts their parameters, tied weights once. Each
parameter is put in a component (embeddings, attention, MLP, norms, heads) and in one of two kinds:

- **embedding** ("sparse"): the tables read by *lookup* — token, position and token-type tables,
  and T5's relative-position bucket table. A training step reads only the rows its tokens use,
  so their gradient touches only those rows.
- **dense**: everything multiplied in full for every token (projections, MLPs, norms, heads, and
  DeBERTa's relative-position table, which attention reads whole).

From the counts follow the memory for the weights (fp32/bf16/int8), for training with Adam in fp32
(weights + grads + two moments = 16 bytes per parameter, activations not included) and the forward
FLOPs per token. The bundled all-MiniLM-L6-v2 is counted from its real weights and cross-checked
against its checkpoint's safetensors header; `--model PATH` does the same for any local folder.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table

BUNDLED = "all-MiniLM-L6-v2"
COMPONENTS = ("embeddings", "attention", "mlp", "norms", "heads", "other")
GB = 1e9  # decimal gigabytes, as in vendors' memory figures

# Published parameter counts (model cards / papers). Exact where the source is exact.
PUBLISHED = {
    "gpt2": 124_439_808,
    "bert-base-uncased": 109_482_240,
    "t5-small": 60_506_624,
    "llama-2-7b": 6_738_415_616,
    "all-MiniLM-L6-v2": 22_713_216,
}
# Published only as rounded figures.
PUBLISHED_APPROX = {"deberta-v3-base": (86, 98)}  # millions: backbone, embedding


@dataclass
class ParamCountOptions:
    model: str | None = field(default=None, metadata={
        "help": "A local Hugging Face model folder (config.json, optionally *.safetensors) to count instead of "
                "the built-in architectures; its count is cross-checked against the weights' safetensors header."})
    seq_len: int = field(default=1024, metadata={
        "help": "Sequence length for the attention term of the forward FLOPs per token."})


def check(opts: ParamCountOptions) -> None:
    if not 1 <= opts.seq_len <= 1_048_576:
        raise ProbeError(f"--seq-len {opts.seq_len} must be between 1 and 1048576 tokens")
    if opts.model is not None:
        from n00bqa.probes.models import resolve_model_dir

        resolve_model_dir(opts.model)


def published_architectures() -> list[tuple[str, Any, str]]:
    """(name, config, model class name) for each built-in architecture, from its published config.json."""
    from transformers import BertConfig, DebertaV2Config, GPT2Config, LlamaConfig, T5Config

    return [
        # openai-community/gpt2: the LM head is tied to the token table (wte).
        ("gpt2", GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
         "GPT2LMHeadModel"),
        # google-bert/bert-base-uncased: the published 109,482,240 is the encoder with its pooler.
        ("bert-base-uncased", BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                                         num_attention_heads=12, intermediate_size=3072,
                                         max_position_embeddings=512, type_vocab_size=2), "BertModel"),
        # google-t5/t5-small: encoder + decoder share one token table, which the LM head reuses.
        ("t5-small", T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
                              num_decoder_layers=6, num_heads=8, relative_attention_num_buckets=32,
                              feed_forward_proj="relu", tie_word_embeddings=True),
         "T5ForConditionalGeneration"),
        # meta-llama/Llama-2-7b-hf: untied LM head, RMSNorm, SwiGLU MLP, no biases.
        ("llama-2-7b", LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                                   num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                   max_position_embeddings=4096, rms_norm_eps=1e-5, tie_word_embeddings=False),
         "LlamaForCausalLM"),
        # microsoft/deberta-v3-base: 128k vocabulary, no absolute positions, relative attention.
        ("deberta-v3-base", DebertaV2Config(vocab_size=128100, hidden_size=768, num_hidden_layers=12,
                                            num_attention_heads=12, intermediate_size=3072,
                                            max_position_embeddings=512, type_vocab_size=0,
                                            position_biased_input=False, relative_attention=True,
                                            pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm",
                                            share_att_key=True, position_buckets=256, max_relative_positions=-1,
                                            layer_norm_eps=1e-7), "DebertaV2Model"),
    ]


def build_on_meta(config: Any, class_name: str | None = None):
    """Instantiate a model from its config on the meta device: real shapes, no memory, no weights."""
    import torch
    import transformers

    model_class = getattr(transformers, class_name, None) if class_name else None
    with torch.device("meta"):
        if model_class is not None:
            return model_class(config)
        return transformers.AutoModel.from_config(config)


# How each embedding table is read, by its name in the checkpoint.
TABLE_ROLES = (
    ("relative_attention_bias", "relative-position bucket", True),
    ("rel_embeddings", "- (read whole)", False),
    ("token_type", "token type", True),
    ("position", "position", True),
    ("wpe", "position", True),
    ("", "token id", True),
)


def table_role(name: str) -> tuple[str, bool]:
    """(what indexes this nn.Embedding, whether it is read by row lookup)."""
    for key, role, lookup in TABLE_ROLES:
        if key in name:
            return role, lookup
    raise AssertionError("unreachable: the last role matches every name")


def component_of(param_name: str, module: Any) -> str:
    import torch

    if isinstance(module, torch.nn.Embedding):
        return "embeddings"
    if "norm" in type(module).__name__.lower():
        return "norms"
    name = param_name.lower()
    if name.startswith(("pooler.", "lm_head.", "cls.", "classifier.", "score.", "qa_outputs.")):
        return "heads"
    if "attention" in name or "attn" in name:
        return "attention"
    if any(k in name for k in ("mlp", "intermediate", "densereludense", "feed_forward", "ffn", ".output.dense")):
        return "mlp"
    return "other"


def count_model(model: Any) -> dict[str, Any]:
    """Count a model's parameters, each tensor once, by component and by kind (embedding vs dense)."""
    # A tied weight is one tensor reachable under several names: group names by tensor identity.
    names_of: dict[int, list[str]] = {}
    tensors: dict[int, Any] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(param), []).append(name)
        tensors[id(param)] = param
    by_component = dict.fromkeys(COMPONENTS, 0)
    embedding = 0
    tables = []
    tied_output = 0  # a tied LM head: a table multiplied in full as the output projection
    for key, names in names_of.items():
        numel = tensors[key].numel()
        owner_name = names[0]
        module = model.get_submodule(owner_name.rpartition(".")[0])
        component = component_of(owner_name, module)
        by_component[component] += numel
        if component == "embeddings":
            role, lookup = table_role(owner_name)
            if lookup:
                embedding += numel
            tables.append({"name": owner_name, "shape": list(tensors[key].shape), "params": numel,
                           "role": role, "lookup": lookup, "tied_with": names[1:]})
            if any("lm_head" in n for n in names[1:]):
                tied_output += numel
    # A short label per table: its module's own name, with its stack (encoder/decoder) when that repeats.
    last = [t["name"].removesuffix(".weight").rpartition(".")[2] for t in tables]
    for t, short in zip(tables, last):
        t["short"] = short if last.count(short) == 1 else f"{t['name'].partition('.')[0]} {short}"
    total = sum(by_component.values())
    tied = [names for names in names_of.values() if len(names) > 1]
    return {"total": total, "embedding": embedding, "dense": total - embedding,
            "embedding_fraction": embedding / total if total else 0.0, "components": by_component,
            "tables": tables, "tied": tied, "tied_output": tied_output,
            "shapes": {n: list(tensors[k].shape) for k, ns in names_of.items() for n in ns}}


def attention_shape(config: Any) -> tuple[int, int]:
    """(attention blocks a token passes through, d_attn = heads × head size) from a config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None) or config.hidden_size // heads
    if getattr(config, "is_encoder_decoder", False):
        decoder_layers = getattr(config, "num_decoder_layers", None) or config.num_hidden_layers
        # encoder self-attention + decoder self-attention + decoder cross-attention
        return config.num_hidden_layers + 2 * decoder_layers, heads * head_dim
    return config.num_hidden_layers, heads * head_dim


def forward_flops_per_token(counts: dict[str, Any], config: Any, seq_len: int) -> dict[str, int]:
    """FLOPs for one token's forward pass; one multiply-add = 2 FLOPs.

    matmuls: 2 × every dense parameter, + 2 × a tied output table (counted as embedding, but the LM head
    multiplies all of it). attention: per block, scores q·k over seq_len keys and the weighted sum of
    seq_len values, each seq_len × d_attn multiply-adds -> 4 × blocks × seq_len × d_attn (full attention;
    a causal model's average is about half).
    """
    blocks, d_attn = attention_shape(config)
    matmuls = 2 * (counts["dense"] + counts["tied_output"])
    attention = 4 * blocks * seq_len * d_attn
    return {"matmuls": matmuls, "attention": attention, "total": matmuls + attention}


def read_safetensors_header(path: Path) -> dict[str, dict[str, Any]]:
    """The tensor index of a .safetensors file: 8 bytes little-endian header size, then a JSON header."""
    with open(path, "rb") as f:
        size_bytes = f.read(8)
        if len(size_bytes) != 8:
            raise ProbeError(f"{str(path)!r} is not a safetensors file (shorter than 8 bytes)")
        (size,) = struct.unpack("<Q", size_bytes)
        try:
            header = json.loads(f.read(size))
        except ValueError as exc:
            raise ProbeError(f"{str(path)!r} has an unreadable safetensors header: {exc}") from exc
    header.pop("__metadata__", None)
    return header


def cross_check(folder: Path, counts: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """Compare the counted parameters with the tensors stored in the folder's *.safetensors files."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    stored: dict[str, list[int]] = {}
    for path in files:
        for name, info in read_safetensors_header(path).items():
            stored[name] = list(info["shape"])

    def strip(name: str) -> str:  # checkpoints are saved with or without the base model's prefix
        return name[len(prefix) + 1:] if prefix and name.startswith(prefix + ".") else name

    stored = {strip(n): s for n, s in stored.items()}
    model = {strip(n): s for n, s in counts["shapes"].items()}
    tied_extra = {strip(n) for names in counts["tied"] for n in names[1:]}
    only_stored = sorted(set(stored) - set(model))
    only_model = sorted(set(model) - set(stored))
    mismatched = sorted(n for n in set(stored) & set(model) if stored[n] != model[n])
    stored_total = sum(math.prod(s) for s in stored.values())
    # The same tensors as the model, each once: a tied copy saved twice counts once.
    stored_params = sum(math.prod(s) for n, s in stored.items() if n in model and n not in tied_extra)
    return {"files": [p.name for p in files], "stored_tensors": len(stored), "stored_total": stored_total,
            "stored_params": stored_params, "only_stored": {n: stored[n] for n in only_stored},
            "only_model": only_model, "mismatched": mismatched}


def human(n: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(int(n))


@dataclass
class EmbeddingTable:
    """One nn.Embedding of a model (a tied table is listed once, under its first name)."""

    name: str
    short: str  # its module's own name, with its stack (encoder/decoder) when that repeats
    shape: list[int]
    params: int
    role: str  # what indexes its rows
    lookup: bool  # read by row lookup (False: read whole, like DeBERTa's relative-position table)
    tied_with: list[str]


@dataclass
class ModelNumbers:
    """What was counted for one model; its numeric fields become `<model>.<field>` metrics."""

    total: int
    embedding: int
    dense: int
    embedding_fraction: float
    forward_flops_per_token: int
    forward_flops_matmuls: int
    forward_flops_attention: int
    vocab_size: int
    hidden_size: int
    layers: int
    checkpoint_params: int | None = None
    checkpoint_matches: bool | None = None
    checkpoint_tensors: int | None = None
    checkpoint_numbers: int | None = None
    # report-only (strings and lists are not metrics)
    how: str = ""
    components: list[int] = field(default_factory=list)  # in COMPONENTS order
    tables: list[EmbeddingTable] = field(default_factory=list)
    tied: list[list[str]] = field(default_factory=list)
    checkpoint_files: list[str] = field(default_factory=list)
    checkpoint_only_stored: list[str] = field(default_factory=list)  # "name [shape]"
    checkpoint_only_model: list[str] = field(default_factory=list)
    checkpoint_mismatched: list[str] = field(default_factory=list)


class Numbers(dict):
    """Model name -> ModelNumbers. A dict rather than a dataclass because the models are named by
    the run (`--model` counts a folder named by the user), and the metrics must read `gpt2.total`,
    `all-MiniLM-L6-v2.dense`: `flat_metrics` turns each key into the first part of the name."""


def _model_numbers(counts: dict[str, Any], config: Any, seq_len: int, how: str,
                   check_result: dict[str, Any] | None = None) -> ModelNumbers:
    flops = forward_flops_per_token(counts, config, seq_len)
    blocks, _ = attention_shape(config)
    numbers = ModelNumbers(
        total=counts["total"], embedding=counts["embedding"], dense=counts["dense"],
        embedding_fraction=counts["embedding_fraction"], forward_flops_per_token=flops["total"],
        forward_flops_matmuls=flops["matmuls"], forward_flops_attention=flops["attention"],
        vocab_size=config.vocab_size, hidden_size=getattr(config, "d_model", None) or config.hidden_size,
        layers=config.num_hidden_layers, how=how,
        components=[counts["components"][k] for k in COMPONENTS],
        tables=[EmbeddingTable(t["name"], t["short"], t["shape"], t["params"], t["role"], t["lookup"],
                               t["tied_with"]) for t in counts["tables"]],
        tied=counts["tied"])
    if check_result is not None:
        numbers.checkpoint_params = check_result["stored_params"]
        numbers.checkpoint_matches = (check_result["stored_params"] == counts["total"]
                                      and not check_result["only_model"] and not check_result["mismatched"])
        numbers.checkpoint_tensors = check_result["stored_tensors"]
        numbers.checkpoint_numbers = check_result["stored_total"]
        numbers.checkpoint_files = check_result["files"]
        numbers.checkpoint_only_stored = [f"{n} {s}" for n, s in check_result["only_stored"].items()]
        numbers.checkpoint_only_model = check_result["only_model"]
        numbers.checkpoint_mismatched = check_result["mismatched"]
    return numbers


def measure(opts: ParamCountOptions, ctx: Context) -> Numbers:
    numbers = Numbers()

    # 1. The architectures: published configs on the meta device, or the learner's folder.
    if opts.model is None:
        archs = published_architectures()
        advance = ctx.task("Building models on the meta device", len(archs) + 1)
        for name, config, class_name in archs:
            model = build_on_meta(config, class_name)
            numbers[name] = _model_numbers(count_model(model), config, opts.seq_len, f"{class_name}, meta device")
            advance(1)
        # 2. The bundled MiniLM with its real weights, checked against its own checkpoint.
        from n00bqa.probes.models import load_model, resolve_model_dir

        minilm = load_model(None)
        counts = count_model(minilm)
        numbers[BUNDLED] = _model_numbers(counts, minilm.config, opts.seq_len, "BertModel, real weights",
                                          cross_check(resolve_model_dir(None), counts, minilm.base_model_prefix))
        advance(1)
    else:
        from transformers import AutoConfig

        from n00bqa.probes.models import resolve_model_dir

        folder = resolve_model_dir(opts.model)
        try:
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ProbeError(f"cannot read {str(folder / 'config.json')!r}: {str(exc).splitlines()[0]}") from exc
        class_name = (getattr(config, "architectures", None) or [None])[0]
        model = build_on_meta(config, class_name)
        counts = count_model(model)
        label = BUNDLED if folder == resolve_model_dir(None) else folder.name
        numbers[label] = _model_numbers(counts, config, opts.seq_len,
                                        f"{type(model).__name__} from config.json, meta device",
                                        cross_check(folder, counts, model.base_model_prefix))
    return numbers


def report(numbers: Numbers, opts: ParamCountOptions) -> Report:
    findings: list[str] = []
    sizes = Table("Parameters: embedding (lookup tables, sparse gradient) vs dense",
                  ["model", "total", "embedding", "dense", "emb. %"], [],
                  note=("Built on the meta device from each published config.json (no weights); all-MiniLM-L6-v2 "
                        "with its real weights." if opts.model is None else
                        "Built on the meta device from the folder's config.json; cross-checked against its weights."))
    published = Table("Counted vs published", ["model", "what", "published", "counted"], [],
                      note="Published figures from the model cards and papers; deberta-v3-base's card gives "
                           "rounded millions.")
    parts = Table("Parameters by component, in millions", ["model", *COMPONENTS], [],
                  note="attention: Q/K/V/output projections; mlp: the feed-forward layers; heads: pooler or an "
                       "untied LM head; other: anything not recognised.")
    memory = Table("Memory in GB (1e9 bytes): weights in fp32 / bf16 / int8, and Adam training in fp32",
                   ["model", "fp32", "bf16", "int8", "Adam train"], [],
                   note="Training with Adam in fp32 = weights 4 + gradients 4 + first moment 4 + second moment 4 "
                        "= 16 bytes per parameter; activations not included.")
    flops = Table(f"Forward FLOPs per token at seq_len {opts.seq_len}",
                  ["model", "matmuls", "attention", "total", "GFLOPs"], [],
                  note="1 multiply-add = 2 FLOPs. matmuls: 2 per dense parameter, plus 2 per parameter of a tied "
                       "output table. Attention: 4 × blocks × seq_len × d_attn (scores + weighted sum, full "
                       "attention; a causal model averages about half).")
    lookup_tables = Table("Embedding tables (every nn.Embedding)", ["model", "table", "shape", "params",
                                                                     "row looked up by"], [],
                          note="Tied tables are listed once; the findings name their other names. A table read "
                               "whole is counted as dense.")
    for name, c in numbers.items():
        sizes.rows.append([name, c.total, c.embedding, c.dense, round(100 * c.embedding_fraction, 2)])
        if name in PUBLISHED:
            published.rows.append([name, "total", PUBLISHED[name], c.total])
        if name in PUBLISHED_APPROX:
            token_table = max(t.params for t in c.tables)
            backbone_m, embedding_m = PUBLISHED_APPROX[name]
            published.rows.append([name, "backbone (M)", backbone_m, round((c.total - token_table) / 1e6, 2)])
            published.rows.append([name, "embedding (M)", embedding_m, round(token_table / 1e6, 2)])
        parts.rows.append([name, *(round(v / 1e6, 3) for v in c.components)])
        memory.rows.append([name, round(4 * c.total / GB, 3), round(2 * c.total / GB, 3), round(c.total / GB, 3),
                            round(16 * c.total / GB, 3)])
        flops.rows.append([name, c.forward_flops_matmuls, c.forward_flops_attention, c.forward_flops_per_token,
                           round(c.forward_flops_per_token / 1e9, 3)])
        for t in c.tables:
            shape = "×".join(f"{d:,}" for d in t.shape)
            lookup_tables.rows.append([name, t.short, shape, t.params, t.role])

        sentence = (f"{name}: {c.total:,} parameters ({human(c.total)}); {c.embedding:,} "
                    f"({100 * c.embedding_fraction:.1f}%) sit in lookup tables and {c.dense:,} are dense.")
        if name in PUBLISHED_APPROX:
            token_table = max(t.params for t in c.tables)
            backbone_m, embedding_m = PUBLISHED_APPROX[name]
            sentence += (f" Its model card gives {backbone_m}M backbone + {embedding_m}M embedding parameters; "
                         f"measured: {c.total - token_table:,} outside the token table + {token_table:,} in it.")
        if name in PUBLISHED:
            verdict = "matches" if PUBLISHED[name] == c.total else f"differs by {c.total - PUBLISHED[name]:+,} from"
            sentence += f" The count {verdict} the published {PUBLISHED[name]:,}."
        findings.append(sentence)
        if c.tied:
            groups = "; ".join(" = ".join(names) for names in c.tied)
            findings.append(f"{name} ties weights (one tensor under several names, counted once): {groups}.")
        whole = [t for t in c.tables if not t.lookup]
        if whole:
            findings.append(f"{name}: {', '.join(t.name for t in whole)} is an nn.Embedding but attention reads "
                            f"the whole table every step, so its {sum(t.params for t in whole):,} parameters are "
                            "counted as dense.")
        if c.checkpoint_params is not None:
            findings.append(_cross_check_sentence(name, c))

    # The comparisons a learner asks about.
    if opts.model is None:
        deb, llama = numbers["deberta-v3-base"], numbers["llama-2-7b"]
        findings.append(f"deberta-v3-base's {deb.vocab_size:,}-token vocabulary alone holds {deb.embedding:,} "
                        f"parameters, {100 * deb.embedding_fraction:.1f}% of the model, against "
                        f"{100 * llama.embedding_fraction:.1f}% for llama-2-7b, whose {llama.layers} layers of "
                        f"{llama.hidden_size}-wide matrices dwarf its {llama.vocab_size:,}-row table: the share is "
                        "vocabulary × width against depth × width².")
        total = llama.total
        findings.append(f"llama-2-7b needs {4 * total / GB:.1f} GB for fp32 weights, {2 * total / GB:.1f} GB in "
                        f"bf16, {total / GB:.1f} GB in int8, and {16 * total / GB:.1f} GB to train with Adam in "
                        "fp32 before any activation is stored.")
        gpt2_flops = numbers["gpt2"].forward_flops_per_token
        findings.append(f"A forward pass of gpt2 costs {gpt2_flops / 1e6:,.0f} MFLOPs per token at seq_len "
                        f"{opts.seq_len} (2 per dense parameter plus 2 per parameter of the tied output table, "
                        "plus the attention term); the embedding lookup itself costs no multiply-adds.")
    n_models = len(numbers)
    summary = (f"Counted {n_models} model{'s' if n_models > 1 else ''} from "
               f"{'their' if n_models > 1 else 'its'} configuration, each tensor once. Embedding tables "
               "(read by lookup, so a step's gradient touches only the rows used) are the 'sparse' part; everything "
               "else is dense and multiplied in full for every token.")
    return Report(summary=summary, findings=findings,
                  tables=[sizes, published, parts, lookup_tables, memory, flops],
                  model=opts.model or f"published configs + {BUNDLED}")


def _cross_check_sentence(name: str, c: ModelNumbers) -> str:
    files = ", ".join(c.checkpoint_files)
    parts = [f"{name}: the checkpoint header ({files}) lists {c.checkpoint_tensors} tensors holding "
             f"{c.checkpoint_numbers:,} numbers; the model's own parameters among them add up to "
             f"{c.checkpoint_params:,}"]
    parts[-1] += ", which matches the count" if c.checkpoint_params == c.total else f", against {c.total:,} counted"
    if c.checkpoint_only_stored:
        listed = ", ".join(c.checkpoint_only_stored[:4])
        parts.append(f"stored but not a parameter: {listed}" + (" ..." if len(c.checkpoint_only_stored) > 4 else "")
                     + " (e.g. a buffer saved with the weights)")
    if c.checkpoint_only_model:
        listed = ", ".join(c.checkpoint_only_model[:4])
        parts.append(f"parameters absent from the checkpoint: {listed}" +
                     (" ..." if len(c.checkpoint_only_model) > 4 else ""))
    if c.checkpoint_mismatched:
        parts.append(f"shapes differ for: {', '.join(c.checkpoint_mismatched[:4])}")
    return "; ".join(parts) + "."


PROBE = Probe(
    name="param-count",
    question="model-size",
    title="Count parameters of GPT-2, BERT, T5, Llama-2-7B, DeBERTa-v3 and MiniLM: embedding vs dense, memory, FLOPs",
    options=ParamCountOptions,
    measure=measure,
    report=report,
    check=check,
    threads=None,  # meta-device models and one real MiniLM: torch's default threads
    predictions=(
        Prediction("How many parameters does GPT-2 small (gpt2) have?", "gpt2.total", "parameters"),
        Prediction("What fraction of bert-base-uncased's parameters sit in its lookup tables?",
                   "bert-base-uncased.embedding_fraction", ""),
        Prediction("How many FLOPs does one token's forward pass through gpt2 cost?",
                   "gpt2.forward_flops_per_token", "FLOPs", scoring="log10"),
    ),
)
