"""How large is a transformer model? How much of it is dense, and how much is sparse?

Builds well-known architectures from their published configurations on PyTorch's `meta` device
(shapes only: no memory, no download) and counts their parameters, tied weights once, by component
(embeddings, attention, MLP, norms, heads). Then it measures the two things a formula would guess:

- **Which parameters get a sparse gradient.** A lookup table's forward pass reads only the rows its
  batch uses, but that alone does not make its gradient sparse: a table tied to the output layer
  (GPT-2's `wte`, T5's `shared`) is multiplied in full by the LM head, and the softmax gives every
  row a gradient every step. So for each architecture one backward pass runs on a *tiny twin* (the
  same model class, tying and position settings, small widths), the rows of each table with a
  non-zero gradient are counted, each table is classed row-sparse or dense from that count, and the
  classes are applied to the full-size counts (`<model>.sparse_grad_params`, `.dense_grad_params`).
  MiniLM's pass runs on its real weights.
- **The forward FLOPs per token.** Counted by `torch.utils.flop_counter.FlopCounterMode` over one
  forward pass on the meta device, at T = min(--seq-len, the model's positions), and set beside the
  usual formula (2 FLOPs per matrix parameter + 4 × blocks × T × d_attn), with the gap explained
  term by term. A FLOP is one multiply or one add: a multiply-accumulate (MAC) is 2 FLOPs.

From the counts follow the memory for the weights (fp32/bf16/int8) and for training with Adam in fp32
(weights + grads + two moments = 16 bytes per parameter, activations not included). The bundled
all-MiniLM-L6-v2 is counted from its real weights and cross-checked against its checkpoint's
safetensors header; `--model PATH` does the same for any local folder.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges

BUNDLED = "all-MiniLM-L6-v2"
COMPONENTS = ("embeddings", "attention", "mlp", "norms", "heads", "other")
GB = 1e9  # decimal gigabytes, as in vendors' memory figures
GRAD_BATCH, GRAD_SEQ_LEN = 2, 8  # the short batch of the gradient pass: 16 tokens
TWIN_VOCAB = 512  # the twins' vocabulary: far more rows than a 16-token batch can use
FLOPS_GAP_NOTABLE = 0.02  # a formula within 2 % of the count is "close"; beyond, its gap is explained in full
MAX_GRAD_PASS_PARAMS = 2_000_000_000  # a --model twin larger than this is not run (memory on a laptop)

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
        "help": "Sequence length for the forward FLOPs per token (each model is counted at the smaller of this "
                "and its own number of positions)."})


def check(opts: ParamCountOptions) -> None:
    check_ranges(opts, {"seq_len": (1, 1_048_576, "tokens")})
    if opts.model is not None:
        from n00bqa.probes.lib.models import resolve_model_dir

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
        # google-t5/t5-small: encoder + decoder share one token table, which the LM head reuses. Its
        # positions are relative buckets (no table of absolute positions); its config.json says
        # n_positions 512, the length it was trained at.
        ("t5-small", T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
                              num_decoder_layers=6, num_heads=8, relative_attention_num_buckets=32,
                              feed_forward_proj="relu", tie_word_embeddings=True, n_positions=512),
         "T5ForConditionalGeneration"),
        # meta-llama/Llama-2-7b-hf: untied LM head, RMSNorm, SwiGLU MLP, no biases, rotary positions.
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


# The tiny twins: each published config with small widths, depth and vocabulary, and everything that
# decides which rows get gradient kept as published (class, tying, positions, relative buckets).
TWIN_SHRINK = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, bos_token_id=TWIN_VOCAB - 1, eos_token_id=TWIN_VOCAB - 1),
    "bert-base-uncased": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    "t5-small": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4),
    "llama-2-7b": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, head_dim=8),
    "deberta-v3-base": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
}
LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers")


def twin_config(name: str, config: Any) -> Any:
    """The tiny twin's config: a built-in's TWIN_SHRINK, or (a --model folder) the same model with 1 layer."""
    if name in TWIN_SHRINK:
        return type(config)(**{**config.to_dict(), "vocab_size": TWIN_VOCAB, **TWIN_SHRINK[name]})
    one_layer = {key: 1 for key in LAYER_FIELDS if isinstance(getattr(config, key, None), int)}
    return type(config)(**{**config.to_dict(), **one_layer})


def model_positions(config: Any) -> int | None:
    """How many positions the model can read (its position table, or its config's stated limit)."""
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def build_model(config: Any, class_name: str | None = None, device: str = "meta"):
    """Instantiate a model from its config; on `meta`: real shapes, no memory, no weights."""
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    model_class = getattr(transformers, class_name, None) if class_name else None
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a twin's small vocabulary makes config checks chatty
    try:
        with torch.device(device):
            model = model_class(config) if model_class is not None else transformers.AutoModel.from_config(config)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval()


def build_on_meta(config: Any, class_name: str | None = None):
    return build_model(config, class_name, "meta")


# How each embedding table's rows are indexed, by its name in the checkpoint; whether the forward pass
# reads it by row lookup (DeBERTa's rel_embeddings is instead projected whole in every layer).
TABLE_ROLES = (
    ("relative_attention_bias", "rel. bucket", True),
    ("rel_embeddings", "rel. distance", False),
    ("token_type", "token type", True),
    ("position", "position", True),
    ("wpe", "position", True),
    ("", "token id", True),
)
SHORT_NAMES = {"word_embeddings": "word", "position_embeddings": "position", "token_type_embeddings": "token_type",
               "relative_attention_bias": "rel_bias", "rel_embeddings": "rel"}


def table_role(name: str) -> tuple[str, bool]:
    """(what indexes this nn.Embedding's rows, whether the forward pass reads it by row lookup)."""
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
    """Count a model's parameters, each tensor once, by component and by kind (lookup table or not)."""
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
    # A short label per table: its module's own name, with its stack (enc/dec) when that repeats.
    last = [t["name"].removesuffix(".weight").rpartition(".")[2] for t in tables]
    for t, short in zip(tables, last):
        label = SHORT_NAMES.get(short, short)
        stack = t["name"].partition(".")[0].replace("encoder", "enc").replace("decoder", "dec")
        t["short"] = label if last.count(short) == 1 else f"{stack} {label}"
    total = sum(by_component.values())
    tied = [names for names in names_of.values() if len(names) > 1]
    one_d = sum(t.numel() for t in tensors.values() if t.ndim == 1)  # biases and norm weights
    pooler = sum(t.numel() for k, t in tensors.items() if names_of[k][0].startswith("pooler.") and t.ndim == 2)
    return {"total": total, "embedding": embedding, "dense": total - embedding,
            "embedding_fraction": embedding / total if total else 0.0, "components": by_component,
            "tables": tables, "tied": tied, "tied_output": tied_output, "one_d": one_d, "pooler_matrix": pooler,
            "shapes": {n: list(tensors[k].shape) for k, ns in names_of.items() for n in ns}}


# --- Which rows get gradient: one backward pass on a tiny twin -----------------------------------

def gradient_rows(model: Any, input_ids: Any, decoder_input_ids: Any | None = None) -> dict[str, int]:
    """One backward pass; for each nn.Embedding (by its first name), how many rows got non-zero gradient.

    Args:
        model: a model on the CPU, with real (or random) weights.
        input_ids: (B, T) token ids. Causal LMs and seq2seq models are given labels (their own loss,
            so a tied output layer sends gradient the way training does); bare encoders are given the
            mean square of every output (it reaches every output position).
        decoder_input_ids: (B, T) target-side ids for an encoder-decoder.
    """
    import inspect

    import torch

    inputs = {"input_ids": input_ids}
    if decoder_input_ids is not None:
        inputs["decoder_input_ids"] = decoder_input_ids
    if "labels" in inspect.signature(model.forward).parameters:
        # HF shifts the labels inside a causal LM; a seq2seq model predicts its decoder inputs' ids
        inputs["labels"] = decoder_input_ids if decoder_input_ids is not None else input_ids
    from transformers.utils import logging as hf_logging

    model.zero_grad(set_to_none=True)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the twins' configs name no loss_type; transformers says so on every call
    try:
        out = model(**inputs)
    finally:
        hf_logging.set_verbosity(verbosity)
    loss = out.loss if getattr(out, "loss", None) is not None else sum(
        t.float().pow(2).mean() for t in out.values() if torch.is_tensor(t) and t.is_floating_point())
    loss.backward()
    rows: dict[str, int] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters(remove_duplicate=False):
        owner = model.get_submodule(name.rpartition(".")[0])
        if not isinstance(owner, torch.nn.Embedding) or id(param) in seen:
            continue
        seen.add(id(param))
        grad = param.grad
        rows[name] = 0 if grad is None else int((grad != 0).any(dim=1).sum())  # (V, d) -> rows with any non-zero
    model.zero_grad(set_to_none=True)
    return rows


def row_sparse(grad_rows: int, rows: int) -> bool:
    """The class of a table's gradient: row-sparse if some rows got none, dense if every row got some."""
    return grad_rows < rows


def measure_gradient(model: Any, config: Any, counts: dict[str, Any], seed: int) -> dict[str, Any]:
    """Rows with gradient per table: a short batch (GRAD_BATCH × GRAD_SEQ_LEN), then, if the model has
    tables indexed by position or distance, one sequence as long as its positions made of the same ids
    (so only those tables can gain rows)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    vocab = config.vocab_size
    # id 0 is padding_idx in BERT-style tables (its row never gets gradient): draw from 1..V-1
    ids = torch.randint(1, vocab, (GRAD_BATCH, GRAD_SEQ_LEN), generator=generator)  # (B, T)
    dec = (torch.randint(1, vocab, (GRAD_BATCH, GRAD_SEQ_LEN), generator=generator)
           if config.is_encoder_decoder else None)
    short = gradient_rows(model, ids, dec)
    distinct = torch.cat([ids.flatten(), dec.flatten()] if dec is not None else [ids.flatten()]).unique()
    result = {"short": short, "distinct_ids": len(distinct), "full": None, "full_seq_len": None}
    if any(t["role"] != "token id" for t in counts["tables"]):
        full_len = model_positions(config) or 512
        tiled = ids.flatten().repeat(full_len // ids.numel() + 1)[:full_len].unsqueeze(0)  # (1, T_full)
        tiled_dec = dec.flatten().repeat(full_len // dec.numel() + 1)[:full_len].unsqueeze(0) if dec is not None else None
        result["full"] = gradient_rows(model, tiled, tiled_dec)
        result["full_seq_len"] = full_len
    return result


# --- Forward FLOPs: counted, and the formula ------------------------------------------------------

def attention_shape(config: Any) -> tuple[int, int]:
    """(attention blocks a token passes through, d_attn = heads × head size) from a config."""
    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or getattr(config, "d_kv", None) or config.hidden_size // heads
    if getattr(config, "is_encoder_decoder", False):
        decoder_layers = getattr(config, "num_decoder_layers", None) or config.num_hidden_layers
        # encoder self-attention + decoder self-attention + decoder cross-attention
        return config.num_hidden_layers + 2 * decoder_layers, heads * head_dim
    return config.num_hidden_layers, heads * head_dim


def formula_flops_per_token(counts: dict[str, Any], config: Any, seq_len: int) -> dict[str, int]:
    """The usual estimate of one token's forward FLOPs; one multiply-accumulate = 2 FLOPs.

    matmuls: 2 × every non-table parameter, + 2 × a tied output table (the LM head multiplies all of it).
    attention: per block, scores q·k over seq_len keys and the weighted sum of seq_len values, each
    seq_len × d_attn multiply-accumulates -> 4 × blocks × seq_len × d_attn.
    """
    blocks, d_attn = attention_shape(config)
    matmuls = 2 * (counts["dense"] + counts["tied_output"])
    attention = 4 * blocks * seq_len * d_attn
    return {"matmuls": matmuls, "attention": attention, "total": matmuls + attention}


def count_forward_flops(model: Any, seq_len: int) -> dict[str, float]:
    """FLOPs of one forward pass over a batch of 1 × seq_len, counted by FlopCounterMode on the meta device.

    An encoder-decoder reads seq_len source tokens and seq_len target tokens. Returns the total and,
    for an encoder-decoder, the encoder's and the decoder's (with its LM head) parts.

    Why meta: there, sdpa attention runs its plain-matmul path, which FlopCounterMode counts. On the CPU
    it runs a fused kernel that FlopCounterMode's registry lacks (torch 2.13), and the count would lose
    every attention FLOP (tests/probes/test_param_count.py shows both).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    ids = torch.zeros(1, seq_len, dtype=torch.long, device="meta")  # (1, T): values do not exist on meta
    inputs = {"input_ids": ids}
    if model.config.is_encoder_decoder:
        inputs["decoder_input_ids"] = ids
    counter = None
    # Without a mask DeBERTa looks into the ids for padding, with one GPT-2 and T5 check it is all ones:
    # either reads a value (.item()), which the meta device does not have. Try one, then the other.
    for attempt in (inputs, {**inputs, "attention_mask": torch.ones_like(ids)}):
        counter = FlopCounterMode(display=False)
        try:
            with torch.no_grad(), counter:
                model(**attempt)
            break
        except RuntimeError as exc:
            if "meta" not in str(exc):
                raise
    else:
        raise ProbeError(f"cannot run {type(model).__name__} on the meta device to count its FLOPs")
    by_module = counter.get_flop_counts()
    cls = type(model).__name__
    part = {key: sum(by_module.get(f"{cls}.{key}", {}).values()) for key in ("encoder", "decoder", "lm_head")}
    return {"total": counter.get_total_flops(), "encoder": part["encoder"],
            "decoder": part["decoder"] + part["lm_head"]}


def formula_gap_terms(counts: dict[str, Any], config: Any, seq_len: int) -> list[tuple[str, float]]:
    """What the formula gets wrong, term by term, in FLOPs per token (counted = formula + these terms).

    - 1-D weights (biases, norm scales) are charged 2 FLOPs each by the formula, but they are adds and
      scales, not matrix multiplies (FlopCounterMode counts matmuls, attention and convolutions);
    - a pooler (BERT) multiplies only the first token, not every token;
    - DeBERTa's rel_embeddings is charged as a matrix every token multiplies; instead each layer projects
      the whole table (2 × position_buckets rows) through the key and/or query projections, once per
      sequence, and scores every token against every relative distance (c2p: query · position keys,
      p2c: key · position queries).
    """
    T = seq_len
    terms = [("1-D weights: not matmuls", -2.0 * counts["one_d"]),
             ("pooler: token 0 only", -2.0 * counts["pooler_matrix"] * (1 - 1 / T))]
    read_whole = sum(t["params"] for t in counts["tables"] if not t["lookup"])
    if getattr(config, "relative_attention", False) and read_whole:
        buckets = getattr(config, "position_buckets", -1)
        max_relative = getattr(config, "max_relative_positions", -1)
        span = buckets if buckets > 0 else (max_relative if max_relative > 0 else config.max_position_embeddings)
        rows = 2 * span  # the rel_embeddings rows attention uses
        kinds = len({"c2p", "p2c"} & set(getattr(config, "pos_att_type", []) or []))
        _, d_attn = attention_shape(config)
        layers = config.num_hidden_layers
        terms += [("rel table: not per token", -2.0 * read_whole),
                  ("rel table through Q/K", layers * kinds * 2.0 * rows * config.hidden_size * d_attn / T),
                  ("c2p/p2c scores", layers * kinds * 2.0 * rows * d_attn)]
    return [(label, value) for label, value in terms if value != 0]


# --- The checkpoint's own header ------------------------------------------------------------------

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


# --- What is measured ----------------------------------------------------------------------------

@dataclass
class EmbeddingTable:
    """One nn.Embedding of a model (a tied table is listed once, under its first name)."""

    name: str
    short: str  # its module's own name, with its stack (enc/dec) when that repeats
    shape: list[int]
    params: int
    role: str  # what indexes its rows
    lookup: bool  # read by row lookup (False: projected whole, like DeBERTa's rel_embeddings)
    tied_with: list[str]
    twin_rows: int | None = None  # rows of the twin's table
    grad_rows: int | None = None  # twin rows with non-zero gradient after the short batch
    grad_rows_full: int | None = None  # ... after one sequence as long as the model's positions
    sparse_grad: bool | None = None  # row_sparse(grad_rows, twin_rows)


@dataclass
class ModelNumbers:
    """What was measured for one model; its numeric fields become `<model>.<field>` metrics."""

    total: int
    embedding: int  # in tables read by row lookup
    dense: int  # everything else
    embedding_fraction: float
    vocab_size: int
    hidden_size: int
    layers: int
    positions: int | None
    # the gradient pass (None when it was not run)
    sparse_grad_params: int | None
    dense_grad_params: int | None
    sparse_grad_fraction: float | None
    grad_batch_distinct_ids: int | None
    grad_full_seq_len: int | None
    # forward FLOPs per token: counted by FlopCounterMode, and the formula
    flops_seq_len: int
    forward_flops_per_token: float
    forward_macs_per_token: float
    forward_flops_formula: int
    forward_flops_gap: float  # counted - formula
    forward_flops_gap_fraction: float  # gap / counted
    forward_flops_unexplained: float  # gap - the sum of the explained terms
    encoder_flops_per_token: float | None = None  # encoder-decoders: per source token
    decoder_flops_per_token: float | None = None  # ... per target token, LM head included
    checkpoint_params: int | None = None
    checkpoint_matches: bool | None = None
    checkpoint_tensors: int | None = None
    checkpoint_numbers: int | None = None
    # report-only (strings and lists are not metrics)
    how: str = ""
    causal: str = ""  # "yes" for a causal LM (a string: not a metric)
    components: list[int] = field(default_factory=list)  # in COMPONENTS order
    tables: list[EmbeddingTable] = field(default_factory=list)
    tied: list[list[str]] = field(default_factory=list)
    gap_terms: list[list[Any]] = field(default_factory=list)  # [label, FLOPs per token]
    checkpoint_files: list[str] = field(default_factory=list)
    checkpoint_only_stored: list[str] = field(default_factory=list)  # "name [shape]"
    checkpoint_only_model: list[str] = field(default_factory=list)
    checkpoint_mismatched: list[str] = field(default_factory=list)


class Numbers(dict):
    """Model name -> ModelNumbers. A dict rather than a dataclass because the models are named by
    the run (`--model` counts a folder named by the user), and the metrics must read `gpt2.total`,
    `all-MiniLM-L6-v2.dense_grad_params`: `flat_metrics` turns each key into the first part of the name."""


def measure_model(name: str, config: Any, meta_model: Any, how: str, opts: ParamCountOptions, seed: int,
                  grad_model: Any | None, check_result: dict[str, Any] | None = None) -> ModelNumbers:
    """Count one model, run its gradient pass on `grad_model` (its twin, or MiniLM itself), count its FLOPs."""
    counts = count_model(meta_model)
    tables = [EmbeddingTable(t["name"], t["short"], t["shape"], t["params"], t["role"], t["lookup"],
                             t["tied_with"]) for t in counts["tables"]]

    # 1. Which rows get gradient, applied to the full-size tables by name.
    sparse = dense_grad = fraction = distinct = full_len = None
    if grad_model is not None:
        grad = measure_gradient(grad_model, grad_model.config, counts, seed)
        twin_shapes = {n: p.shape for n, p in grad_model.named_parameters(remove_duplicate=False)}
        for t in tables:
            if t.name not in grad["short"]:
                raise ProbeError(f"{name}: its twin has no table {t.name!r}; the twin must be the same class")
            t.twin_rows = int(twin_shapes[t.name][0])
            t.grad_rows = grad["short"][t.name]
            t.grad_rows_full = grad["full"][t.name] if grad["full"] and t.role != "token id" else None
            t.sparse_grad = row_sparse(t.grad_rows, t.twin_rows)
        sparse = sum(t.params for t in tables if t.sparse_grad)
        dense_grad = counts["total"] - sparse
        fraction = sparse / counts["total"]
        distinct, full_len = grad["distinct_ids"], grad["full_seq_len"]

    # 2. FLOPs at a length the model can read.
    positions = model_positions(config)
    T = min(opts.seq_len, positions) if positions else opts.seq_len
    counted = count_forward_flops(meta_model, T)
    formula = formula_flops_per_token(counts, config, T)["total"]
    per_token = counted["total"] / T
    terms = formula_gap_terms(counts, config, T)
    gap = per_token - formula
    numbers = ModelNumbers(
        total=counts["total"], embedding=counts["embedding"], dense=counts["dense"],
        embedding_fraction=counts["embedding_fraction"], vocab_size=config.vocab_size,
        hidden_size=getattr(config, "d_model", None) or config.hidden_size, layers=config.num_hidden_layers,
        positions=positions, sparse_grad_params=sparse, dense_grad_params=dense_grad, sparse_grad_fraction=fraction,
        grad_batch_distinct_ids=distinct, grad_full_seq_len=full_len,
        flops_seq_len=T, forward_flops_per_token=per_token, forward_macs_per_token=per_token / 2,
        forward_flops_formula=formula, forward_flops_gap=gap, forward_flops_gap_fraction=gap / per_token,
        forward_flops_unexplained=gap - sum(v for _, v in terms),
        encoder_flops_per_token=counted["encoder"] / T if config.is_encoder_decoder else None,
        decoder_flops_per_token=counted["decoder"] / T if config.is_encoder_decoder else None,
        how=how, causal="yes" if "CausalLM" in type(meta_model).__name__ or "LMHead" in type(meta_model).__name__
        else "", components=[counts["components"][k] for k in COMPONENTS], tables=tables, tied=counts["tied"],
        gap_terms=[[label, value] for label, value in terms])
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
    if opts.model is None:
        # 1. The architectures: published configs on the meta device, each with its tiny twin on the CPU.
        archs = published_architectures()
        advance = ctx.task("Counting models, their gradients and FLOPs", len(archs) + 1)
        for name, config, class_name in archs:
            twin = build_model(twin_config(name, config), class_name, "cpu")
            numbers[name] = measure_model(name, config, build_on_meta(config, class_name),
                                          f"{class_name}, meta device", opts, ctx.seed, twin)
            advance(1)
        # 2. The bundled MiniLM with its real weights, checked against its own checkpoint; its
        # gradient pass runs on a private copy of the real model (the cached one stays untouched).
        import copy

        from n00bqa.probes.lib.models import load_model, resolve_model_dir

        minilm = load_model(None)
        counts = count_model(minilm)
        numbers[BUNDLED] = measure_model(BUNDLED, minilm.config, build_on_meta(minilm.config, "BertModel"),
                                         "BertModel, real weights", opts, ctx.seed, copy.deepcopy(minilm),
                                         cross_check(resolve_model_dir(None), counts, minilm.base_model_prefix))
        advance(1)
        return numbers

    # A learner's folder: its config on the meta device; its twin is the same model with one layer.
    from transformers import AutoConfig

    from n00bqa.probes.lib.models import resolve_model_dir

    advance = ctx.task("Counting the model, its gradient and FLOPs", 1)
    folder = resolve_model_dir(opts.model)
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read {str(folder / 'config.json')!r}: {str(exc).splitlines()[0]}") from exc
    class_name = (getattr(config, "architectures", None) or [None])[0]
    meta_model = build_on_meta(config, class_name)
    counts = count_model(meta_model)
    label = BUNDLED if folder == resolve_model_dir(None) else folder.name
    twin = None
    if counts["total"] <= MAX_GRAD_PASS_PARAMS:
        twin = build_model(twin_config(label, config), class_name, "cpu")
    numbers[label] = measure_model(label, config, meta_model, f"{type(meta_model).__name__} from config.json",
                                   opts, ctx.seed, twin, cross_check(folder, counts, meta_model.base_model_prefix))
    advance(1)
    return numbers


# --- The report ----------------------------------------------------------------------------------

def _millions(flops: float) -> float | int:
    """MFLOPs for a table cell: one decimal, or a whole number from 1,000 up (so no digit is lost)."""
    value = flops / 1e6
    return round(value, 1) if value < 1000 else int(round(value))


def _names(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1] if items else "none"


def report(numbers: Numbers, opts: ParamCountOptions) -> Report:
    findings: list[str] = []
    measured_grad = [n for n, c in numbers.items() if c.sparse_grad_params is not None]
    sizes = Table("Parameters with a row-sparse vs a dense gradient", ["model", "sparse grad", "dense grad", "sparse %"],
                  [], note="sparse grad: the lookup tables whose tiny twin got gradient in only some rows from a "
                           f"{GRAD_BATCH} × {GRAD_SEQ_LEN}-token batch; dense grad: everything else (matrices, norms, "
                           "biases, tables tied to the output layer). The two add up to the total.")
    published = Table("Counted vs published", ["model", "what", "published", "counted"], [],
                      note="Published figures from the model cards and papers; deberta-v3-base's card gives "
                           "rounded millions.")
    parts = Table("Parameters by component, in millions", ["model", *COMPONENTS], [],
                  note="attention: Q/K/V/output projections; mlp: the feed-forward layers; heads: pooler or an "
                       "untied LM head; other: anything not recognised.")
    lookup_tables = Table("Embedding tables at full size", ["model", "table", "shape", "params", "gradient"], [],
                          note="Tied tables are listed once (the findings name their other names). gradient: "
                               "measured on the tiny twin (next table).")
    evidence = Table("Rows with non-zero gradient after one backward pass on a tiny twin",
                     ["model", "table", "rows", f"T={GRAD_SEQ_LEN}", "full T", "at full T"], [],
                     note=f"Twins: the same class, tying and position settings, {TWIN_VOCAB}-token vocabulary, small "
                          f"widths (MiniLM: its real weights). T={GRAD_SEQ_LEN}: a batch of {GRAD_BATCH} × "
                          f"{GRAD_SEQ_LEN} random ids. full T: one sequence as long as the model's positions, made "
                          "of the same ids. A causal LM's last position predicts no label, so it sends no gradient.")
    memory = Table("Memory in GB (1e9 bytes): weights in fp32 / bf16 / int8, and Adam training in fp32",
                   ["model", "fp32", "bf16", "int8", "Adam train"], [],
                   note="Training with Adam in fp32 = weights 4 + gradients 4 + first moment 4 + second moment 4 "
                        "= 16 bytes per parameter; activations not included.")
    flops = Table("Forward MFLOPs per token: counted (FlopCounterMode) vs formula",
                  ["model", "T", "counted", "formula", "gap %"], [],
                  note="1 FLOP = one multiply or one add; a multiply-accumulate = 2 FLOPs. T = min(--seq-len, the "
                       "model's positions). formula: 2 × (non-table parameters + a tied output table) + 4 × blocks "
                       "× T × d_attn. An encoder-decoder reads T source and T target tokens.")
    gap_table = Table("The formula's gap, term by term (MFLOPs per token)", ["model", "term", "MFLOPs"], [],
                      note="counted = formula + these terms; 'unexplained' is listed only when it is not 0.")
    for name, c in numbers.items():
        sizes.rows.append([name,
                           "-" if c.sparse_grad_params is None else c.sparse_grad_params,
                           "-" if c.dense_grad_params is None else c.dense_grad_params,
                           "-" if c.sparse_grad_fraction is None else round(100 * c.sparse_grad_fraction, 2)])
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
        flops.rows.append([name, c.flops_seq_len, _millions(c.forward_flops_per_token),
                           _millions(c.forward_flops_formula), round(100 * c.forward_flops_gap_fraction, 3)])
        for label, value in c.gap_terms:
            gap_table.rows.append([name, label, round(value / 1e6, 3)])
        if c.forward_flops_unexplained != 0:
            gap_table.rows.append([name, "unexplained", round(c.forward_flops_unexplained / 1e6, 3)])
        for t in c.tables:
            kind = "-" if t.sparse_grad is None else ("sparse" if t.sparse_grad else "dense")
            lookup_tables.rows.append([name, t.short, "×".join(str(d) for d in t.shape), t.params, kind])
            if t.grad_rows is not None:
                evidence.rows.append([name, t.short, t.twin_rows, t.grad_rows,
                                      "-" if t.grad_rows_full is None else c.grad_full_seq_len,
                                      "-" if t.grad_rows_full is None else t.grad_rows_full])

        # What it holds.
        sentence = (f"{name}: {c.total:,} parameters ({human(c.total)}); {c.embedding:,} "
                    f"({100 * c.embedding_fraction:.1f}%) sit in lookup tables and {c.dense:,} in the matrices, "
                    "norms and biases around them.")
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
        if c.checkpoint_params is not None:
            findings.append(_cross_check_sentence(name, c))

    findings += _gradient_findings(numbers, measured_grad)
    findings += _flops_findings(numbers, opts)

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
    n_models = len(numbers)
    summary = (f"Counted {n_models} model{'s' if n_models > 1 else ''}, each tensor once. One backward pass on a "
               "tiny twin of each shows which lookup tables get gradient only in the rows a batch uses (untied token "
               "tables; position and distance tables while the batch is shorter than them) and which get it in "
               "every row (tables tied to the output layer). Forward FLOPs are counted by FlopCounterMode and set "
               "beside the 2-per-parameter formula.")
    return Report(summary=summary, findings=findings,
                  tables=[sizes, published, parts, lookup_tables, evidence, memory, flops, gap_table],
                  model=opts.model or f"published configs + {BUNDLED}")


def _gradient_findings(numbers: Numbers, measured: list[str]) -> list[str]:
    """Words for the gradient pass, each list read from the classes measured on the twins."""
    if not measured:
        return [f"{name}: too large ({c.total:,} parameters) for the gradient pass here; its sparse/dense split "
                "was not measured." for name, c in numbers.items()]
    findings = []
    rows = [(name, t) for name in measured for t in numbers[name].tables]
    tied = [(n, t) for n, t in rows if not t.sparse_grad and t.role == "token id"]
    if tied:
        findings.append(
            "Tables tied to the output layer get gradient in every row, every step: "
            + "; ".join(f"{n}'s {t.short} {t.grad_rows} of {t.twin_rows} rows from a batch of "
                        f"{numbers[n].grad_batch_distinct_ids} distinct ids" for n, t in tied)
            + ". The lookup touches only the ids used, but the LM head multiplies the whole table and the softmax "
              "gives every logit a gradient, so "
            + _names([f"{n}'s {t.params:,}-parameter {t.short}" for n, t in tied]) + " count as dense.")
    untied = [(n, t) for n, t in rows if t.sparse_grad and t.role == "token id"]
    if untied:
        findings.append(
            "Untied token tables get gradient only in the rows of the ids the batch uses: "
            + "; ".join(f"{n}'s {t.short} {t.grad_rows} of {t.twin_rows} rows "
                        f"({numbers[n].grad_batch_distinct_ids} distinct ids)" for n, t in untied)
            + ". In a causal LM a token seen only at the last position gets none: that position predicts no label.")
    positional = [(n, t) for n, t in rows if t.role in ("position", "rel. bucket", "rel. distance")]
    if positional:
        short = [(n, t) for n, t in positional if t.sparse_grad]
        filled = [(n, t) for n, t in short if t.grad_rows_full is not None and t.grad_rows_full > t.grad_rows]
        findings.append(
            f"Position and relative-distance tables are row-sparse when the batch is short (T={GRAD_SEQ_LEN}): "
            + "; ".join(f"{n}'s {t.short} {t.grad_rows} of {t.twin_rows} rows, {t.grad_rows_full} at "
                        f"T={numbers[n].grad_full_seq_len}" for n, t in positional if t.grad_rows_full is not None)
            + (". Each of them gains rows at full length: their sparsity comes from the short batch, not from the "
               "table, and full-length training reaches (nearly) every row."
               if len(filled) == len(short) else
               ". At full length these did not gain rows: " + _names([f"{n}'s {t.short}" for n, t in short
                                                                      if (n, t) not in filled]) + "."))
    deberta_rel = [(n, t) for n, t in rows if not t.lookup]
    for n, t in deberta_rel:
        findings.append(f"{n}'s {t.short} ({t.name}) is not read by lookup: every layer projects all "
                        f"{t.shape[0]} rows (its FLOPs are below); yet its gradient is "
                        f"{'row-sparse' if t.sparse_grad else 'dense'}: {t.grad_rows} of {t.twin_rows} rows at "
                        f"T={GRAD_SEQ_LEN}, because attention then gathers only the relative distances present.")
    segment = [(n, t) for n, t in rows if t.role == "token type"]
    if segment:
        findings.append("Token-type tables: " + "; ".join(f"{n}'s {t.grad_rows} of {t.twin_rows} rows"
                                                          for n, t in segment)
                        + ": every token here is segment 0; a batch of sentence pairs reaches both rows.")
    findings.append(
        "Applied to the full-size models, the row-sparse share of the parameters is "
        + ", ".join(f"{n} {100 * numbers[n].sparse_grad_fraction:.1f}%" for n in measured)
        + "; the rest, matrices and tied tables, gets a dense gradient every step.")
    return findings


def _flops_findings(numbers: Numbers, opts: ParamCountOptions) -> list[str]:
    findings = []
    capped = [n for n, c in numbers.items() if c.flops_seq_len < opts.seq_len]
    lengths = ", ".join(f"{n} {c.flops_seq_len}" for n, c in numbers.items())
    sentence = (f"FLOPs are counted by torch's FlopCounterMode over one forward pass on the meta device (where "
                "attention runs as plain matmuls, which it counts; on the CPU, torch's fused attention kernel is "
                "missing from its registry and the attention FLOPs would be lost), at T = the smaller of "
                f"--seq-len {opts.seq_len} and the model's positions: {lengths}.")
    if capped:
        limits = sorted({numbers[n].positions for n in capped})
        sentence += (f" {_names(capped)} cannot read {opts.seq_len} tokens (their configs give "
                     + _names([f"{v}" for v in limits]) + " positions), so each is counted at its own limit.")
    findings.append(sentence)
    first_name, first = next(iter(numbers.items()))
    findings.append(f"A FLOP is one multiply or one add, so a multiply-accumulate (MAC) is 2 FLOPs, as FlopCounterMode "
                    f"and the formula both count: {first_name} costs {first.forward_flops_per_token / 1e6:,.1f} MFLOPs "
                    f"= {first.forward_macs_per_token / 1e6:,.1f} M MACs per token at T={first.flops_seq_len}.")
    close = [n for n, c in numbers.items() if abs(c.forward_flops_gap_fraction) < FLOPS_GAP_NOTABLE]
    far = [n for n in numbers if n not in close]
    if close:
        worst = max(abs(numbers[n].forward_flops_gap_fraction) for n in close)
        poolers = [n for n in close if any(label.startswith("pooler") for label, _ in numbers[n].gap_terms)]
        findings.append(
            f"The formula 2 × (non-table parameters + a tied output table) + 4 × blocks × T × d_attn is within "
            f"{100 * worst:.2f}% of the count (under {100 * FLOPS_GAP_NOTABLE:.0f}%) for {_names(close)}: it "
            "charges 2 FLOPs to every bias and norm weight, which are additions and scalings, not matrix multiplies"
            + (f", and it charges {_names(poolers)}'s pooler for every token, though the pooler reads only the "
               "first" if poolers else "") + ".")
    for n in far:
        c = numbers[n]
        terms = "; ".join(f"{label} {value / 1e6:+,.1f}M" for label, value in c.gap_terms)
        findings.append(
            f"{n}: counted {c.forward_flops_per_token / 1e6:,.1f} MFLOPs per token at T={c.flops_seq_len}, the "
            f"formula {c.forward_flops_formula / 1e6:,.1f} (gap {100 * c.forward_flops_gap_fraction:+.1f}% of the "
            f"count, {100 * FLOPS_GAP_NOTABLE:.0f}% or more). Term by term: {terms}."
            + (" The formula does not see DeBERTa's disentangled attention: every layer projects the whole "
               "relative-position table through the query and key projections (a cost per sequence, so per token "
               "it shrinks as T grows) and scores each token against every relative distance (c2p, p2c)."
               if any(label.startswith("c2p") for label, _ in c.gap_terms) else ""))
    unexplained = [n for n, c in numbers.items() if c.forward_flops_unexplained != 0]
    findings.append("For every model the terms add up to the gap exactly (nothing unexplained)." if not unexplained
                    else "Left unexplained: " + ", ".join(f"{n} {numbers[n].forward_flops_unexplained:,.0f} FLOPs"
                                                          for n in unexplained) + " per token.")
    for n, c in numbers.items():
        if c.encoder_flops_per_token is not None:
            findings.append(
                f"{n} is an encoder-decoder, so 'per token' here means one source token through the encoder "
                f"({c.encoder_flops_per_token / 1e6:,.1f} MFLOPs) plus one target token through the decoder and "
                f"its LM head ({c.decoder_flops_per_token / 1e6:,.1f} MFLOPs), with source and target both "
                f"{c.flops_seq_len} tokens long: {c.forward_flops_per_token / 1e6:,.1f} MFLOPs per pair. Counted "
                "per token read or written, it is half that.")
    causal = [n for n, c in numbers.items() if c.causal]
    if causal:
        findings.append(f"For the causal {_names(causal)} the count includes all T × T attention scores: transformers "
                        "computes them and then masks the future; a kernel that skips the masked half saves about "
                        "half of the attention FLOPs.")
    return findings


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
    title="Parameters of GPT-2, BERT, T5, Llama-2-7B, DeBERTa-v3 and MiniLM: sparse vs dense gradient, memory, FLOPs",
    options=ParamCountOptions,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # meta-device models, tiny twins and one small real MiniLM (see Probe.threads)
    predictions=(
        Prediction("How many parameters does GPT-2 small (gpt2) have?", "gpt2.total", "parameters"),
        Prediction("How many of gpt2's parameters get a gradient in only some rows each step (its word table is "
                   "tied to the output layer)?", "gpt2.sparse_grad_params", "parameters", scoring="log10"),
        Prediction("How many FLOPs does one token's forward pass through gpt2 cost at T=1024?",
                   "gpt2.forward_flops_per_token", "FLOPs", scoring="log10"),
    ),
)
