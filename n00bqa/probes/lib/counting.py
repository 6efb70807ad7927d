"""Counting, once for every probe: parameters (each tensor once) and FLOPs (torch's FlopCounterMode).

Every probe that counts calls these, so a count means the same thing in every finding:

- `parameter_groups(model)`: each distinct parameter tensor with every name it is reachable by (a
  tied weight, such as GPT-2's token table reused as the LM head, is one tensor under two names);
- `count_parameters(model)`: the number of distinct parameters, each tensor once;
- `tied_groups(model)`: the names of each tensor reachable under more than one name;
- `stored_buffers(model)`: numbers a checkpoint saves that are not parameters (persistent buffers);
- `count_by_component(model)`: the same count split by component (embeddings, attention, MLP,
  norms, heads) and by kind (lookup tables, the rest), with every embedding table described;
- `count_flops(fn)`: what FlopCounterMode counts while `fn()` runs (a forward, or a forward and a
  backward), in total, per aten op and per module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class ParameterGroup:
    """One parameter tensor and every name it goes by (more than one when it is tied)."""

    names: list[str]
    tensor: Any

    @property
    def numel(self) -> int:
        return self.tensor.numel()


def parameter_groups(model: Any) -> list[ParameterGroup]:
    """Each distinct parameter tensor of `model` once, in registration order, with all its names."""
    groups: dict[int, ParameterGroup] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        group = groups.setdefault(id(param), ParameterGroup([], param))
        group.names.append(name)
    return list(groups.values())


def count_parameters(model: Any) -> int:
    """Parameters of `model`, each tensor counted once however many names it has (works on `meta`)."""
    return sum(group.numel for group in parameter_groups(model))


def tied_groups(model: Any) -> list[list[str]]:
    """The names of each parameter tensor that has more than one (a tied weight)."""
    return [group.names for group in parameter_groups(model) if len(group.names) > 1]


def stored_buffers(model: Any) -> int:
    """Numbers in the buffers `state_dict()` saves (persistent ones): in a checkpoint, not parameters."""
    saved = set(model.state_dict())
    return sum(b.numel() for name, b in model.named_buffers() if name in saved)


# --- The count by component ------------------------------------------------------------------------
COMPONENTS = ("embeddings", "attention", "mlp", "norms", "heads", "other")
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
    return next((role, lookup) for key, role, lookup in TABLE_ROLES if key in name)


def component_of(param_name: str, module: Any) -> str:
    """Which of COMPONENTS a parameter belongs to, from its module's type and its name."""
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


@dataclass
class EmbeddingTable:
    """One nn.Embedding of a model (a tied table is listed once, under its first name)."""

    name: str
    short: str  # its module's own name, with its stack (enc/dec) when that repeats: "wte", "enc rel_bias"
    shape: list[int]
    params: int
    role: str  # what indexes its rows: "token id", "position", "token type", "rel. bucket", "rel. distance"
    lookup: bool  # read by row lookup (False: projected whole, like DeBERTa's rel_embeddings)
    tied_with: list[str]  # its other names


@dataclass
class ComponentCount:
    """A model's parameters, each tensor once, by component and by kind."""

    total: int
    embedding: int  # in tables read by row lookup
    dense: int  # everything else: matrices, norms, biases, a table projected whole
    components: dict[str, int]  # COMPONENTS -> parameters
    tables: list[EmbeddingTable]
    tied: list[list[str]]  # the names of each tied tensor
    tied_output: int  # a table tied to the LM head: multiplied in full as the output projection
    one_d: int  # biases and norm weights
    pooler_matrix: int  # a pooler's matrix (it reads only the first token)
    shapes: dict[str, list[int]]  # every parameter name, tied ones included -> its shape

    @property
    def embedding_fraction(self) -> float:
        return self.embedding / self.total if self.total else 0.0


def count_by_component(model: Any) -> ComponentCount:
    """Count `model`'s parameters once each (as `count_parameters`), by component and by kind."""
    groups = parameter_groups(model)
    components = dict.fromkeys(COMPONENTS, 0)
    tables: list[EmbeddingTable] = []
    for group in groups:
        owner = group.names[0]
        component = component_of(owner, model.get_submodule(owner.rpartition(".")[0]))
        components[component] += group.numel
        if component == "embeddings":
            role, lookup = table_role(owner)
            tables.append(EmbeddingTable(owner, "", list(group.tensor.shape), group.numel, role, lookup,
                                         group.names[1:]))
    # A short label per table: its module's own name, with its stack (enc/dec) when that repeats.
    last = [t.name.removesuffix(".weight").rpartition(".")[2] for t in tables]
    for table, short in zip(tables, last):
        label = SHORT_NAMES.get(short, short)
        stack = table.name.partition(".")[0].replace("encoder", "enc").replace("decoder", "dec")
        table.short = label if last.count(short) == 1 else f"{stack} {label}"
    total = sum(components.values())
    embedding = sum(t.params for t in tables if t.lookup)
    return ComponentCount(
        total=total, embedding=embedding, dense=total - embedding, components=components, tables=tables,
        tied=[g.names for g in groups if len(g.names) > 1],
        tied_output=sum(t.params for t in tables if any("lm_head" in n for n in t.tied_with)),
        one_d=sum(g.numel for g in groups if g.tensor.ndim == 1),
        pooler_matrix=sum(g.numel for g in groups if g.names[0].startswith("pooler.") and g.tensor.ndim == 2),
        shapes={name: list(g.tensor.shape) for g in groups for name in g.names})


# --- FLOPs ------------------------------------------------------------------------------------------
@dataclass
class FlopCount:
    """FLOPs FlopCounterMode counted (a multiply-accumulate is 2 FLOPs, as it counts them)."""

    total: int
    by_op: dict[str, int] = field(default_factory=dict)  # "mm", "bmm", "_scaled_dot_product_..." -> FLOPs
    by_module: dict[str, int] = field(default_factory=dict)  # "GPT2LMHeadModel.transformer" -> FLOPs

    def module(self, name: str) -> int:
        """FLOPs counted inside the module named `name` (0 if it ran nothing FlopCounterMode counts)."""
        return self.by_module.get(name, 0)


def count_flops(fn: Callable[[], Any]) -> FlopCount:
    """Run `fn()` under torch.utils.flop_counter.FlopCounterMode and return what it counted.

    FlopCounterMode counts matrix multiplies, convolutions and the attention ops it has a formula
    for; elementwise work (softmax, norms, activations) counts 0. On the CPU in torch 2.13 the fused
    scaled_dot_product_attention kernel has no formula (its FLOPs are lost), while on the `meta`
    device sdpa takes the plain-matmul path, which is counted: the probes that count attention run
    on `meta` or say which they did.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    counts = counter.get_flop_counts()
    by_op = {str(op).replace("aten.", ""): int(n) for op, n in counts.get("Global", {}).items()}
    by_module = {name: int(sum(ops.values())) for name, ops in counts.items() if name != "Global"}
    return FlopCount(int(counter.get_total_flops()), by_op, by_module)
