"""Byte accounting for the distributed probes: what a rank holds and what a collective sends.

Measured, not assumed: `model_state_bytes` sums the local storage of a rank's parameters,
gradients and optimizer state (a DTensor counts its shard only); `comm_bytes_mode` records the
tensor sizes of every collective a step issues; `ring_bytes` is the textbook cost of a collective
in a ring, which the probes compare those measurements against.
"""

from __future__ import annotations

def tensor_bytes(tensor) -> int:
    """Bytes a tensor's own storage holds on this rank (a DTensor counts its local shard only)."""
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def model_state_bytes(model, optimizer) -> dict[str, int]:
    """Parameters, gradients and optimizer state this process holds, measured from its tensors."""
    import torch

    params = sum(tensor_bytes(p) for p in model.parameters())
    grads = sum(tensor_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    states = [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    optim = sum(tensor_bytes(v) for v in states)
    # Under FSDP every optimizer tensor is a DTensor shard except Adam's 0-d step counters, kept whole.
    whole = sum(tensor_bytes(v) for v in states if v.ndim == 0)
    return {"params": params, "grads": grads, "optimizer": optim, "total": params + grads + optim,
            "scalar_optimizer": whole}


def comm_bytes_mode():
    """A CommDebugMode that also records, for every collective, the bytes of its smallest and
    largest tensor, inputs and outputs (the local shard and the full tensor for all-gather and
    reduce-scatter; the same size twice for all-reduce and all-to-all)."""
    import torch
    from torch.distributed.tensor.debug import CommDebugMode
    from torch.distributed.tensor.debug._comm_mode import c10d_collective_ops
    from torch.utils._pytree import tree_leaves

    class CommBytesMode(CommDebugMode):
        def __init__(self):
            super().__init__()
            self.calls: list[tuple[str, int, int]] = []  # (op name, smallest tensor bytes, largest tensor bytes)

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = super().__torch_dispatch__(func, types, args, kwargs)
            packet = func._overloadpacket
            if packet in self.comm_registry or packet in c10d_collective_ops:
                # c10d ops take their output as an argument; functional ones return it.
                sizes = [t.numel() * t.element_size() for t in tree_leaves((args, kwargs or {}, out))
                         if isinstance(t, torch.Tensor)]
                if sizes:
                    self.calls.append((collective_kind(str(packet)), min(sizes), max(sizes)))
            return out

    return CommBytesMode()


def collective_kind(op_name: str) -> str:
    """`c10d._allgather_base_` / `_c10d_functional.all_gather_into_tensor` -> "all-gather", and so on."""
    name = op_name.lower().replace("_", "")
    for needle, kind in (("reducescatter", "reduce-scatter"), ("allgather", "all-gather"),
                         ("allreduce", "all-reduce"), ("alltoall", "all-to-all"), ("broadcast", "broadcast")):
        if needle in name:
            return kind
    return op_name


def ring_bytes(kind: str, full_bytes: int, world_size: int) -> float:
    """Bytes one rank sends in a ring implementation of a collective over `full_bytes`.

    all-gather and reduce-scatter: (N-1)/N x bytes; all-reduce (a reduce-scatter then an
    all-gather): 2(N-1)/N x bytes; all-to-all: (N-1)/N of the rank's own tensor; collective-permute
    (XLA's point-to-point shift): the whole buffer, once, to one peer.
    """
    if kind == "collective-permute":
        return float(full_bytes)
    fraction = (world_size - 1) / world_size
    return (2 if kind == "all-reduce" else 1) * fraction * full_bytes
