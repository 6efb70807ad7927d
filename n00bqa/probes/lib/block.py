"""The model the ddp and fsdp probes train, and its single-process reference.

One pre-LayerNorm GPT block (nanoGPT's names), the same initial weights and the same batch on
every rank and in the parent, so a distributed run and one process with the full batch can be
compared weight by weight. `BlockOptions` adds the block's size and training to the launch options.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, check_ranges
from n00bqa.probes.lib.launcher import LaunchOptions, check_launch, check_state_fits, largest_fitting_width

@dataclass
class BlockOptions(LaunchOptions):
    """The launch options plus the GPT block ddp and fsdp train and how they train it."""

    d_model: int = field(default=64, metadata={"help": "Width of the GPT block (must divide by --n-head)."})
    n_head: int = field(default=4, metadata={"help": "Attention heads."})
    seq_len: int = field(default=16, metadata={"help": "Tokens per sequence."})
    batch: int = field(default=12, metadata={"help": "Global batch (sequences), split evenly across the ranks."})
    steps: int = field(default=5, metadata={"help": "Adam steps to train."})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate."})


def check_block(opts: BlockOptions, sharded: bool) -> None:
    """The launch checks, then one line for each bad block or training option; `sharded`: the model
    state is split across the ranks (fsdp) rather than held whole by each (ddp)."""
    check_launch(opts)
    if opts.n_head < 1 or not 8 <= opts.d_model <= 8192 or opts.d_model % opts.n_head:
        raise ProbeError(f"--d-model must be 8-8192 and divisible by --n-head {opts.n_head}, got {opts.d_model}")
    check_ranges(opts, {"seq_len": (1, 512)})
    if opts.batch < opts.nproc or opts.batch % opts.nproc:
        raise ProbeError(f"--batch {opts.batch} does not split evenly across --nproc {opts.nproc}; "
                         f"use a multiple of {opts.nproc}")
    check_ranges(opts, {"steps": (1, 50)})
    if not 0.0 < opts.lr <= 1.0:
        raise ProbeError(f"--lr must be in (0, 1], got {opts.lr:g}")
    check_ranges(opts, {"n_head": (1, opts.d_model), "batch": (opts.nproc, 256), "lr": (1e-5, 1.0)})
    check_state_fits(block_param_count(opts.d_model), opts.nproc, sharded, "--d-model", opts.d_model)
    check_ranges(opts, {"d_model": (8, largest_fitting_width(block_param_count, opts.nproc, sharded),
                                    "(the top: the widest multiple of 64 whose model state fits a rank here)")})


def block_job(opts: BlockOptions, seed: int, **extra: Any) -> dict:
    """What every rank needs to build and train the block (plain data), plus a probe's `extra`."""
    return {"d_model": opts.d_model, "n_head": opts.n_head, "seq_len": opts.seq_len, "batch": opts.batch,
            "steps": opts.steps, "lr": opts.lr, "seed": seed, **extra}


def block_param_count(d_model: int) -> int:
    """Parameters of `build_block(d_model, ...)`, by closed form: 12 d^2 + 10 d.

    ln_1, ln_2: 2d each; attn.c_attn: 3d^2 (no bias); attn.c_proj: d^2 + d; mlp.c_fc: 4d^2 + 4d;
    mlp.c_proj: 4d^2 + d.
    """
    return 12 * d_model * d_model + 10 * d_model


def build_block(d_model: int, n_head: int, seed: int):
    """One pre-LayerNorm GPT block (nanoGPT's names), initialised from `seed` the same way everywhere."""
    import torch

    torch.manual_seed(seed)
    return _block_class()(d_model, n_head)


@functools.lru_cache(maxsize=1)
def _block_class():
    from torch import nn
    from torch.nn import functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.n_head = n_head
            # q, k, v for every head at once. No bias: the key bias's true gradient is exactly zero
            # (softmax ignores a constant added to every score), and Adam would turn the rounding
            # noise of that zero into full-size steps that differ from run to run.
            self.c_attn = nn.Linear(d_model, 3 * d_model, bias=False)
            self.c_proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, 3C) -> 3 x (B, T, C)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
            y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
            return self.c_proj(y)

    class MLP(nn.Module):
        def __init__(self, d_model: int):
            super().__init__()
            self.c_fc = nn.Linear(d_model, 4 * d_model)
            self.c_proj = nn.Linear(4 * d_model, d_model)

        def forward(self, x):
            return self.c_proj(F.gelu(self.c_fc(x)))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)

    class Block(nn.Module):
        def __init__(self, d_model: int, n_head: int):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d_model)
            self.attn = CausalSelfAttention(d_model, n_head)
            self.ln_2 = nn.LayerNorm(d_model)
            self.mlp = MLP(d_model)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))  # (B, T, C)
            return x + self.mlp(self.ln_2(x))  # (B, T, C)

    return Block


def make_batch(global_batch: int, seq_len: int, d_model: int, seed: int, device: Any = "cpu"):
    """The full batch (inputs and regression targets), the same on every rank and in the parent."""
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(global_batch, seq_len, d_model, generator=gen)  # (B, T, C)
    y = torch.randn(global_batch, seq_len, d_model, generator=gen)  # (B, T, C)
    return x.to(device), y.to(device)


def rank_slice(tensor, rank: int, world_size: int):
    """This rank's contiguous share of the batch dimension: rows [rank*b, (rank+1)*b)."""
    per_rank = tensor.shape[0] // world_size
    return tensor[rank * per_rank:(rank + 1) * per_rank]


def train_single_process(d_model: int, n_head: int, global_batch: int, seq_len: int, steps: int, lr: float,
                         seed: int):
    """The reference: the same block trained with Adam on one process, full batch, no communication.

    Returns:
        (model, optimizer, losses): the trained model, its optimizer (with its state) and the loss
        of every step.
    """
    import torch

    model = build_block(d_model, n_head, seed)
    x, y = make_batch(global_batch, seq_len, d_model, seed)  # (B, T, C) each
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, optimizer, losses


def train_reference(opts: BlockOptions, ctx: Context):
    """`train_single_process` for these options, as a progress step of its own."""
    advance = ctx.task("the same block on one process, full batch", 1)
    trained = train_single_process(opts.d_model, opts.n_head, opts.batch, opts.seq_len, opts.steps, opts.lr,
                                   ctx.seed)
    advance()
    return trained


def max_abs_diff(weights: dict[str, Any], model) -> float:
    """The largest |rank's weight - model's weight| over every entry (`weights`: name -> numpy array)."""
    import numpy as np

    return max(float(np.abs(weights[name] - p.detach().cpu().numpy()).max()) for name, p in model.named_parameters())


def max_weight_change(model, opts: BlockOptions, seed: int) -> float:
    """How far training moved `model`'s weights from the block's initial ones: the scale a
    difference between two trained copies is measured against."""
    initial = build_block(opts.d_model, opts.n_head, seed)
    return max(float((p.detach() - q.detach()).abs().max()) for p, q in zip(model.parameters(), initial.parameters()))


def equal_within(diff: float, tolerance: float) -> bool:
    """The verdict behind "the same as one process": the largest difference is within tolerance."""
    return diff <= tolerance
