"""Counting, once for every probe: parameters (each tensor once) and FLOPs (torch's FlopCounterMode).

Every probe that counts calls these, so a count means the same thing in every finding:

- `parameter_groups(model)`: each distinct parameter tensor with every name it is reachable by (a
  tied weight, such as GPT-2's token table reused as the LM head, is one tensor under two names);
- `count_parameters(model)`: the number of distinct parameters, each tensor once;
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
