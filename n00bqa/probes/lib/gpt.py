"""A GPT written in the reading order of nanoGPT's `model.py`: the model the nanogpt probe trains
and the flops probe counts.

Read it top to bottom: the configuration, causal self-attention, the MLP, the pre-norm block, then
the GPT itself (token and position tables, the blocks, the final LayerNorm and the output layer
tied to the token table), its parameter count and its sampling loop.

B is the batch, T the time (positions), C the width (n_embd), nh the heads, hs = C / nh the head
size and V the vocabulary.

This module imports torch when it is imported: a probe imports it inside `measure`, so listing
probes and `--help` stay instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from n00bqa.probes.lib.counting import count_parameters
from n00bqa.probes.lib.models import GPTShape

INIT_STD = 0.02  # GPT-2's (and nanoGPT's) init: every matrix and table ~ N(0, 0.02²)


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 101
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    dropout: float = 0.0
    bias: bool = False  # nanoGPT's train.py default: no biases in Linear and LayerNorm
    # True: F.scaled_dot_product_attention (a fused kernel); False: the softmax written out, which is
    # what torch's FlopCounterMode can count on a CPU (it has no formula for the CPU fused kernel).
    flash: bool = True


def config_for(shape: GPTShape, block_size: int, vocab_size: int, **more) -> GPTConfig:
    """The GPTConfig of a probe's shape options (n_layer, n_head, n_embd), for this context and vocabulary."""
    return GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=shape.n_layer, n_head=shape.n_head,
                     n_embd=shape.n_embd, **more)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.flash = config.flash
        self.dropout = config.dropout
        # one matrix makes the queries, keys and values of every head at once: C -> 3C
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # heads back into the stream
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        if not config.flash:  # position t may look at 0..t only: the lower triangle
            causal = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
            self.register_buffer("causal", causal, persistent=False)

    def forward(self, x):
        B, T, C = x.shape  # batch, time, channels (n_embd)
        hs = C // self.n_head  # head size
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, 3C) -> three (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, T, C) -> (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if self.flash:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, hs) @ (B, nh, hs, T) -> (B, nh, T, T)
            att = att.masked_fill(~self.causal[:T, :T], float("-inf"))  # the future gets weight exp(-inf) = 0
            att = self.attn_dropout(F.softmax(att, dim=-1))  # each row sums to 1
            y = att @ v  # (B, nh, T, T) @ (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)  # C -> 4C
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)  # 4C -> C
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C) -> (B, T, 4C) -> (B, T, C)


class Block(nn.Module):
    """Pre-norm: normalise, transform, add back to the residual stream; attention then MLP."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # tokens exchange information: (B, T, C)
        return x + self.mlp(self.ln_2(x))  # each position thinks on its own: (B, T, C)


class GPT(nn.Module):
    """`model(idx (B, T), targets (B, T) or None) -> (logits (B, T, V), loss or None)`.

    Build it under `torch.device("meta")` to count a configuration without allocating its weights.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),  # token table (V, C)
            wpe=nn.Embedding(config.block_size, config.n_embd),  # learned positions (block_size, C)
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)  # C -> V scores
        # Weight tying: the output layer IS the token table, one (V, C) tensor used twice.
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=INIT_STD / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)
        if isinstance(module, nn.Linear) and module.bias is not None:
            torch.nn.init.zeros_(module.bias)

    def get_num_params(self, non_embedding: bool = True) -> int:
        """Unique parameters (the tied table once); nanoGPT's default also leaves out the position
        table `wpe`, but keeps `wte`, because as the output layer it does real matrix work."""
        n = count_parameters(self)  # each tensor once: the tied table is one tensor
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None):
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C) + (T, C)
        for block in self.transformer.h:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, C) -> (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(B * T, -1), targets.view(B * T))  # (B*T, V) vs (B*T,)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0):
        """Extend `idx` (B, t) by `max_new_tokens`, each drawn from the softmax and fed back in."""
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size:]  # (B, <= block_size): the model sees no further back
            logits, _ = self(context)
            probs = F.softmax(logits[:, -1, :] / temperature, dim=-1)  # (B, V): the next token
            idx = torch.cat([idx, torch.multinomial(probs, num_samples=1)], dim=1)  # (B, t+1)
        return idx
