"""Beyond the weights, how much memory do activations take in training, and what does checkpointing save?

Backward needs some of forward's intermediate tensors (a matmul's input to get its weight's
gradient, softmax's output, dropout's mask, ...). Autograd keeps them alive from forward to
backward: that is activation memory, and unlike the model states it grows with batch and sequence.
Korthikanti et al. (2022, "Reducing Activation Recomputation in Large Transformer Models",
arXiv 2205.05198) count it for one GPT layer with 16-bit activations and 1-byte dropout masks:

    bytes per layer = s b h (34 + 5 a s / h)      s sequence, b batch, h hidden size, a heads

(34 sbh from the layer norms, projections and MLP; 5 a s^2 b from the s x s attention scores:
softmax output, dropout mask and dropped-out scores). This probe builds such a layer (pre-norm,
GPT-2 style, written out op by op) and measures what it really saves, with
`torch.autograd.graph.saved_tensors_hooks`: every tensor autograd saves passes the pack hook, and
tensors sharing one storage (views) are counted once; weights are not activations and are left
out. Each op is labelled, so the gap to the formula is read per op. Then the same layer runs with
fused `scaled_dot_product_attention`, in fp32, and under `torch.utils.checkpoint`
(use_reentrant=False) around the whole layer and around the attention core only (the paper's
"selective" recomputation), with `FlopCounterMode` (lib/counting.py) counting what the recomputation
costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

MAX_SAVED_BYTES = 2 * 10**9  # the fp32 run of the largest case must stay well inside this machine's memory
MB = 1e6

# What the paper counts for each op of the layer, in bytes, with e-byte activations and 1-byte masks
# (Korthikanti et al. 2022, section 4.1). The labels are the ones the layer's forward marks.
LABELS = ("ln_1", "c_attn", "q k v, scores", "causal mask", "softmax", "attn dropout", "c_proj", "resid dropout 1",
          "ln_2", "c_fc", "gelu", "mlp c_proj", "resid dropout 2")
ATTENTION_LABELS = ("q k v, scores", "causal mask", "softmax", "attn dropout")
DROPOUT_LABELS = ("attn dropout", "resid dropout 1", "resid dropout 2")
LAYERNORM_LABELS = ("ln_1", "ln_2")


def paper_terms(s: int, b: int, h: int, a: int, e: int = 2) -> dict[str, int]:
    """The paper's bytes per op; summed they are e(16sbh + 2as^2b) + 2sbh + as^2b (34sbh + 5as^2b at e=2)."""
    sbh, as2b = s * b * h, a * s * s * b
    return {
        "ln_1": e * sbh,  # layer norm input
        "c_attn": e * sbh,  # QKV projection input
        "q k v, scores": e * 3 * sbh + e * as2b,  # Q, K for Q·Kᵀ; V and the dropped-out scores for scores·V
        "causal mask": 0,  # not counted (Megatron's fused scale-mask-softmax builds it on the fly)
        "softmax": e * as2b,  # softmax output
        "attn dropout": as2b,  # 1-byte mask
        "c_proj": e * sbh,  # output projection input
        "resid dropout 1": sbh,  # 1-byte mask
        "ln_2": e * sbh,
        "c_fc": e * sbh,  # MLP up-projection input
        "gelu": e * 4 * sbh,  # GELU input (4h wide)
        "mlp c_proj": e * 4 * sbh,  # MLP down-projection input
        "resid dropout 2": sbh,
    }


def korthikanti_bytes(s: int, b: int, h: int, a: int, e: int = 2) -> int:
    """sbh(34 + 5as/h) for e = 2; in fp32 (e = 4) the non-mask terms double: sbh(66 + 9as/h)."""
    return e * (16 * s * b * h + 2 * a * s * s * b) + 2 * s * b * h + a * s * s * b


def layer_forward_flops(s: int, b: int, h: int) -> int:
    """Matmul FLOPs of one layer's forward: 24bsh^2 (QKV 6, out 2, MLP 16) + 4bs^2h (Q·Kᵀ, scores·V)."""
    return 24 * b * s * h * h + 4 * b * s * s * h


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    n_embd: int = field(default=256, metadata={"help": "Hidden size h of the layer."})
    n_head: int = field(default=4, metadata={"help": "Attention heads a (must divide --n-embd)."})
    seq_lens: str = field(default="128,256,512", metadata={"help": "Sequence lengths s to measure, comma-separated."})
    batches: str = field(default="1,4", metadata={"help": "Batch sizes b to measure, comma-separated."})
    dropout: float = field(default=0.1, metadata={"help": "Dropout probability (attention and residual)."})


def parse_sizes(text: str, flag: str, most: int) -> list[int]:
    try:
        sizes = sorted({int(part) for part in str(text).split(",") if part.strip()})
    except ValueError:
        raise ProbeError(f"{flag} {text!r} must be whole numbers separated by commas, e.g. 128,256,512") from None
    if not sizes or sizes[0] < 1 or sizes[-1] > most:
        raise ProbeError(f"{flag} {text!r} must list sizes between 1 and {most}, e.g. 128,256,512")
    return sizes


def check(opts: Options) -> None:
    check_ranges(opts, {"n_embd": (8, 1024)})
    if opts.n_head < 1 or opts.n_embd % opts.n_head:
        raise ProbeError(f"--n-head {opts.n_head} must divide --n-embd {opts.n_embd} (e.g. --n-head 4)")
    if not 0.0 <= opts.dropout < 1.0:
        raise ProbeError(f"--dropout {opts.dropout:g} must be at least 0 and below 1")
    check_ranges(opts, {"n_head": (1, opts.n_embd), "dropout": (0.0, 0.99)})
    s = parse_sizes(opts.seq_lens, "--seq-lens", 4096)[-1]
    b = parse_sizes(opts.batches, "--batches", 64)[-1]
    largest = korthikanti_bytes(s, b, opts.n_embd, opts.n_head, e=4)
    if largest > MAX_SAVED_BYTES:
        raise ProbeError(f"--seq-lens up to {s} with --batches up to {b} would save about {largest / 1e9:.1f} GB "
                         f"in fp32, more than {MAX_SAVED_BYTES / 1e9:g} GB; use smaller sizes")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Case:  # one (s, b) of the sweep, bf16, attention written out
    seq_len: int
    batch: int
    saved_bytes: int  # what autograd kept for backward
    formula_bytes: int  # sbh(34 + 5as/h)
    ratio: float  # saved / formula


@dataclass
class OpBytes:  # one op of the largest case: what it saved against what the paper counts for it
    label: str
    measured: int
    paper: int


@dataclass
class Gap:  # the largest case's measured bytes minus the formula's, by cause
    total_bytes: int  # saved_bytes - formula_bytes
    dropout_mask_extra_bytes: int  # measured dropout masks minus the paper's 1 byte per element
    layernorm_stats_bytes: int  # layer norms' saved mean and rstd (the paper counts only their inputs)
    causal_mask_bytes: int
    shared_scores_bytes: int  # scores·V's input that is softmax's saved output (no attention dropout)
    unexplained_bytes: int  # total - the four above; 0 means explained to the byte
    dropout_mask_dtype: str


@dataclass
class Fp32:  # the largest case in fp32
    saved_bytes: int
    formula_bytes: int  # sbh(66 + 9as/h): 4-byte activations, masks still counted at 1 byte
    ratio: float
    dropout_mask_dtype: str


@dataclass
class FusedAttention:  # the largest case with F.scaled_dot_product_attention, attention dropout 0
    saved_bytes: int
    ratio: float  # saved / formula
    logsumexp_bytes: int  # fp32 row statistics the fused kernel keeps instead of the s x s scores
    attention_bytes: int  # what the attention itself saves (Q, K, V, output, logsumexp)
    backward: str  # grad_fn of the fused call
    dropout_backward: str  # grad_fn with attention dropout > 0: the fused CPU kernel refuses it
    dropout_saved_bytes: int  # attention alone, for q = k = v of the largest case
    dropout_dtypes: str  # what that path saves its tensors in


@dataclass
class Checkpoint:  # the largest case with torch.utils.checkpoint around the layer, or around the attention core only
    saved_bytes: int
    formula_bytes: int  # the layer: 2sbh (its input); the core (selective): 34sbh
    saved_fraction: float  # 1 - saved_bytes / no checkpoint's
    recompute_flops: int  # extra FLOPs of a training step (forward + backward)
    recompute_formula: int  # the layer: one forward, 24bsh^2 + 4bs^2h; the core: Q·Kᵀ and scores·V, 4bs^2h
    recompute_flops_no_early_stop: int  # with set_checkpoint_early_stop(False)
    early_stop_skipped_flops: int  # what early stop leaves out (ops after the last tensor backward needs)
    recompute_fraction: float  # of the plain step's FLOPs
    grad_max_abs_diff: float  # input and weight gradients, checkpointed vs not


@dataclass
class Numbers:
    n_embd: int  # h
    n_head: int  # a
    seq_len: int  # s of the largest case, where the breakdown and the variants are measured
    batch: int  # b of the largest case
    cases: dict[str, Case]  # "s128_b1" -> the sweep
    saved_bytes: int  # largest case, bf16, explicit attention
    formula_bytes: int  # sbh(34 + 5as/h)
    activation_formula_ratio: float  # measured / formula, largest case
    explicit_attention_bytes: int  # what the attention saves written out (Q, K, V, the s x s scores, masks)
    breakdown: list[OpBytes]  # per op (report only)
    gap: Gap
    fp32: Fp32
    sdpa: FusedAttention
    forward_flops: int  # FlopCounterMode, one forward of the layer
    forward_flops_formula: int  # 24bsh^2 + 4bs^2h
    train_step_flops: int  # forward + backward, no checkpoint
    checkpoint: Checkpoint  # the whole layer
    selective: Checkpoint  # only the attention core (Q·Kᵀ ... scores·V): the paper's selective recomputation


# --- 3. measure ---------------------------------------------------------------------------------
class SavedTensorLedger:
    """Pack hook that records each storage autograd saves, once, under the op label current at the time.

    Views share their base's storage, so counting storages (by data_ptr) never counts a view twice.
    The saved tensors stay alive in the graph while we look, so no address is reused meanwhile.
    """

    def __init__(self, weights):
        self.weight_ptrs = {w.untyped_storage().data_ptr() for w in weights}
        self.label = "(unlabelled)"
        self.storages: dict[int, tuple[str, int, str, tuple]] = {}  # ptr -> (label, bytes, dtype, shape)
        self.reused: dict[tuple[str, int], str] = {}  # (label, ptr) saved again by a later op -> first label

    def mark(self, label: str) -> None:
        self.label = label

    def pack(self, t):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr in self.weight_ptrs:
            return t
        if ptr not in self.storages:
            self.storages[ptr] = (self.label, storage.nbytes(), str(t.dtype).replace("torch.", ""), tuple(t.shape))
        elif self.storages[ptr][0] != self.label:
            self.reused[(self.label, ptr)] = self.storages[ptr][0]
        return t

    @staticmethod
    def unpack(t):
        return t

    def hooks(self):
        import torch

        return torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack)

    def total(self) -> int:
        return sum(nbytes for _, nbytes, _, _ in self.storages.values())

    def by_label(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for label, nbytes, _, _ in self.storages.values():
            out[label] = out.get(label, 0) + nbytes
        return out

    def reused_bytes(self, label: str, first_label: str) -> int:
        """Bytes `label`'s op saved that `first_label`'s op had already saved (one storage, counted once)."""
        return sum(self.storages[ptr][1] for (again, ptr), first in self.reused.items()
                   if again == label and first == first_label)

    def bytes_of(self, labels) -> int:
        return sum(nbytes for label, nbytes, _, _ in self.storages.values() if label in labels)


def build_layer(h: int, a: int, p: float):
    """One GPT-2-style pre-norm layer, each op marked with the label the ledger files its saves under."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.checkpoint import checkpoint

    def no_mark(label: str) -> None:
        pass

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(h), nn.LayerNorm(h)
            self.c_attn = nn.Linear(h, 3 * h)  # Q, K, V in one matmul
            self.c_proj = nn.Linear(h, h)
            self.c_fc, self.mlp_c_proj = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)
            self.attention = "explicit"  # or "sdpa": F.scaled_dot_product_attention
            self.attn_p = p  # the attention's own dropout (the residual dropouts always use p)
            self.attention_grad_fn = ""  # the backward node autograd recorded for the attention
            self.checkpoint_core = False  # the paper's selective recomputation

        def core(self, q, k, v, mark=no_mark):
            """Attention written out, as the paper counts it. q, k, v: (B, a, T, h/a) -> (B, a, T, h/a)."""
            T = q.size(-2)
            mark("q k v, scores")
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))  # (B, a, T, T)
            mark("causal mask")
            causal = torch.ones(T, T, dtype=torch.bool).tril()  # (T, T), shared by every batch row and head
            att = att.masked_fill(~causal, float("-inf"))
            mark("softmax")
            att = F.softmax(att, dim=-1)
            mark("attn dropout")
            att = F.dropout(att, self.attn_p, training=self.training)
            mark("q k v, scores")
            return att @ v  # (B, a, T, T) @ (B, a, T, h/a) -> (B, a, T, h/a)

        def forward(self, x, mark=no_mark):
            B, T, C = x.shape  # (B, T, h)
            mark("ln_1")
            y = self.ln_1(x)
            mark("c_attn")
            q, k, v = self.c_attn(y).split(C, dim=2)  # 3 x (B, T, h), views of one (B, T, 3h) output
            q = q.view(B, T, a, C // a).transpose(1, 2)  # (B, a, T, h/a)
            k = k.view(B, T, a, C // a).transpose(1, 2)
            v = v.view(B, T, a, C // a).transpose(1, 2)
            if self.attention == "sdpa":
                mark("q k v, scores")
                o = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_p if self.training else 0.0,
                                                   is_causal=True)
            elif self.checkpoint_core:
                mark("q k v, scores")  # the checkpoint keeps its inputs q, k, v
                o = checkpoint(self.core, q, k, v, use_reentrant=False)
            else:
                o = self.core(q, k, v, mark)
            self.attention_grad_fn = type(o.grad_fn).__name__ if o.grad_fn is not None else ""
            o = o.transpose(1, 2).contiguous().view(B, T, C)  # (B, a, T, h/a) -> (B, T, h)
            mark("c_proj")
            o = self.c_proj(o)
            mark("resid dropout 1")
            x = x + F.dropout(o, p, training=self.training)
            mark("ln_2")
            y = self.ln_2(x)
            mark("c_fc")
            y = self.c_fc(y)  # (B, T, 4h)
            mark("gelu")
            y = F.gelu(y)
            mark("mlp c_proj")
            y = self.mlp_c_proj(y)  # (B, T, h)
            mark("resid dropout 2")
            return x + F.dropout(y, p, training=self.training)

    return Layer()


def saved_by_forward(layer, x, run=None):
    """The ledger of one forward of `run(x, mark)` (default: the layer itself), graph dropped after."""
    ledger = SavedTensorLedger(list(layer.parameters()))
    run = run or (lambda x, mark: layer(x, mark))
    with ledger.hooks():
        out = run(x, ledger.mark)
    del out  # the graph and the tensors it saved go with it
    return ledger


def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint, set_checkpoint_early_stop

    from n00bqa.probes.lib.counting import count_flops

    h, a, p = opts.n_embd, opts.n_head, opts.dropout
    seq_lens = parse_sizes(opts.seq_lens, "--seq-lens", 4096)
    batches = parse_sizes(opts.batches, "--batches", 64)
    advance = ctx.task("saved tensors per case", len(seq_lens) * len(batches) + 8)
    layer = build_layer(h, a, p).train()

    # 1. The sweep, in bf16 (the paper's 16-bit activations).
    layer.to(torch.bfloat16)
    cases = {}
    for s in seq_lens:
        for b in batches:
            x = torch.randn(b, s, h, dtype=torch.bfloat16, requires_grad=True)
            ledger = saved_by_forward(layer, x)
            formula = korthikanti_bytes(s, b, h, a)
            cases[f"s{s}_b{b}"] = Case(s, b, ledger.total(), formula, ledger.total() / formula)
            advance()

    # 2. The largest case, op by op: where the measured bytes differ from the paper's.
    s, b = seq_lens[-1], batches[-1]
    x = torch.randn(b, s, h, dtype=torch.bfloat16, requires_grad=True)
    ledger = saved_by_forward(layer, x)
    measured, paper = ledger.by_label(), paper_terms(s, b, h, a)
    breakdown = [OpBytes(label, measured.get(label, 0), paper[label]) for label in LABELS]
    dropout_extra = sum(measured.get(label, 0) - paper[label] for label in DROPOUT_LABELS)
    layernorm_stats = sum(measured.get(label, 0) - paper[label] for label in LAYERNORM_LABELS)
    causal_mask = measured.get("causal mask", 0)
    # Without dropout the scores·V matmul saves the softmax output itself, which the paper counts twice.
    shared_scores = ledger.reused_bytes("q k v, scores", "softmax")
    mask_dtypes = {dtype for label, _, dtype, _ in ledger.storages.values() if label in DROPOUT_LABELS}
    saved, formula = ledger.total(), korthikanti_bytes(s, b, h, a)
    explicit_attention = ledger.bytes_of(ATTENTION_LABELS)
    advance()

    # 3. Fused attention: scaled_dot_product_attention keeps row statistics, not the s x s scores.
    # Its fused CPU kernel takes no attention dropout (checked below), so the attention's own dropout is
    # 0 here; the residual dropouts stay.
    layer.attention, layer.attn_p = "sdpa", 0.0
    sdpa_ledger = saved_by_forward(layer, x)
    sdpa_backward = layer.attention_grad_fn
    layer.attention, layer.attn_p = "explicit", p
    logsumexp = sum(nbytes for _, nbytes, dtype, shape in sdpa_ledger.storages.values()
                    if dtype == "float32" and shape == (b, a, s))
    q = torch.randn(b, a, s, h // a, dtype=torch.bfloat16, requires_grad=True)  # (B, a, T, h/a)
    dropout_ledger = SavedTensorLedger([])
    with dropout_ledger.hooks():
        dropped = F.scaled_dot_product_attention(q, q, q, dropout_p=max(p, 0.1), is_causal=True)
    sdpa_dropout_backward = type(dropped.grad_fn).__name__
    sdpa_dropout_dtypes = ",".join(sorted({dtype for _, _, dtype, _ in dropout_ledger.storages.values()}))
    del dropped
    advance()

    # 4. fp32: every non-mask term doubles; the paper's 1-byte masks would not.
    layer32 = build_layer(h, a, p).train()
    layer32.load_state_dict({k_: v_.float() for k_, v_ in layer.state_dict().items()})
    x32 = torch.randn(b, s, h, requires_grad=True)
    fp32_ledger = saved_by_forward(layer32, x32)
    fp32_mask_dtypes = {dtype for label, _, dtype, _ in fp32_ledger.storages.values() if label in DROPOUT_LABELS}
    del layer32, x32
    advance()

    # 5. Checkpointing: the whole layer, then only the attention core.
    def checkpointed(x, mark):
        mark("checkpoint input")
        return checkpoint(layer, x, use_reentrant=False)

    ckpt_ledger = saved_by_forward(layer, x, checkpointed)
    layer.checkpoint_core = True
    selective_ledger = saved_by_forward(layer, x)
    layer.checkpoint_core = False
    advance()

    # 6. FLOPs: one forward; a training step plain, with the layer checkpointed, with the core checkpointed.
    def train_step(run):
        def step():
            torch.manual_seed(ctx.seed)  # same dropout masks in every variant
            layer.zero_grad(set_to_none=True)
            x.grad = None
            run(x).float().sum().backward()
        return step

    def gradients() -> list:
        return [x.grad.clone()] + [w.grad.clone() for w in layer.parameters()]

    def largest_difference(grads: list, reference: list) -> float:
        return max((g1.float() - g2.float()).abs().max().item() for g1, g2 in zip(grads, reference))

    forward_flops = count_flops(lambda: layer(x)).total
    plain_flops = count_flops(train_step(layer)).total
    plain_grads = gradients()
    advance()
    ckpt_flops = count_flops(train_step(lambda x: checkpoint(layer, x, use_reentrant=False))).total
    ckpt_grads = gradients()
    with set_checkpoint_early_stop(False):
        ckpt_flops_no_early_stop = count_flops(train_step(lambda x: checkpoint(layer, x, use_reentrant=False))).total
    advance()
    layer.checkpoint_core = True
    selective_flops = count_flops(train_step(layer)).total
    selective_grads = gradients()
    advance()
    # Non-reentrant checkpoint stops recomputing once backward has every tensor it needs; without that:
    with set_checkpoint_early_stop(False):
        selective_flops_no_early_stop = count_flops(train_step(layer)).total
    layer.checkpoint_core = False
    advance()

    sbh = s * b * h
    return Numbers(
        n_embd=h, n_head=a, seq_len=s, batch=b, cases=cases,
        saved_bytes=saved, formula_bytes=formula, activation_formula_ratio=saved / formula,
        explicit_attention_bytes=explicit_attention, breakdown=breakdown,
        gap=Gap(total_bytes=saved - formula, dropout_mask_extra_bytes=dropout_extra,
                layernorm_stats_bytes=layernorm_stats, causal_mask_bytes=causal_mask, shared_scores_bytes=shared_scores,
                unexplained_bytes=saved - formula - dropout_extra - layernorm_stats - causal_mask + shared_scores,
                dropout_mask_dtype=",".join(sorted(mask_dtypes)) or "none"),
        fp32=Fp32(saved_bytes=fp32_ledger.total(), formula_bytes=korthikanti_bytes(s, b, h, a, e=4),
                  ratio=fp32_ledger.total() / korthikanti_bytes(s, b, h, a, e=4),
                  dropout_mask_dtype=",".join(sorted(fp32_mask_dtypes)) or "none"),
        sdpa=FusedAttention(saved_bytes=sdpa_ledger.total(), ratio=sdpa_ledger.total() / formula,
                            logsumexp_bytes=logsumexp, attention_bytes=sdpa_ledger.bytes_of(ATTENTION_LABELS),
                            backward=sdpa_backward, dropout_backward=sdpa_dropout_backward,
                            dropout_saved_bytes=dropout_ledger.total(), dropout_dtypes=sdpa_dropout_dtypes),
        forward_flops=forward_flops, forward_flops_formula=layer_forward_flops(s, b, h), train_step_flops=plain_flops,
        checkpoint=Checkpoint(
            saved_bytes=ckpt_ledger.total(), formula_bytes=2 * sbh, saved_fraction=1 - ckpt_ledger.total() / saved,
            recompute_flops=ckpt_flops - plain_flops, recompute_formula=layer_forward_flops(s, b, h),
            recompute_flops_no_early_stop=ckpt_flops_no_early_stop - plain_flops,
            early_stop_skipped_flops=ckpt_flops_no_early_stop - ckpt_flops,
            recompute_fraction=(ckpt_flops - plain_flops) / plain_flops,
            grad_max_abs_diff=largest_difference(ckpt_grads, plain_grads)),
        selective=Checkpoint(
            saved_bytes=selective_ledger.total(), formula_bytes=34 * sbh,
            saved_fraction=1 - selective_ledger.total() / saved,
            recompute_flops=selective_flops - plain_flops, recompute_formula=4 * b * s * s * h,
            recompute_flops_no_early_stop=selective_flops_no_early_stop - plain_flops,
            early_stop_skipped_flops=selective_flops_no_early_stop - selective_flops,
            recompute_fraction=(selective_flops - plain_flops) / plain_flops,
            grad_max_abs_diff=largest_difference(selective_grads, plain_grads)),
    )


# --- 4. report ----------------------------------------------------------------------------------
def gap_reasons(g: Gap) -> list[str]:
    """Each measured difference from the paper's count, with its cause (only the ones that occur)."""
    reasons = []
    if g.dropout_mask_dtype != "none":
        reasons.append(f"CPU dropout saves its mask as a {g.dropout_mask_dtype} multiplier (0 or 1/(1-p), the "
                       f"activations' dtype) where the paper counts 1 byte: {g.dropout_mask_extra_bytes:,} more")
    elif g.dropout_mask_extra_bytes:
        reasons.append(f"with dropout 0 there are no masks to keep: {-g.dropout_mask_extra_bytes:,} fewer")
    if g.shared_scores_bytes:
        reasons.append(f"the scores·V matmul keeps the softmax output itself (no dropout in between), which "
                       f"the paper counts twice: {g.shared_scores_bytes:,} fewer")
    reasons.append(f"the layer norms keep their mean and rstd: {g.layernorm_stats_bytes:,} more")
    reasons.append(f"the causal mask is a bool s x s tensor: {g.causal_mask_bytes:,} more")
    return reasons


def report(n: Numbers, opts: Options) -> Report:
    s, b = n.seq_len, n.batch
    gap, fp32, sdpa, ckpt, sel = n.gap, n.fp32, n.sdpa, n.checkpoint, n.selective
    ratios = [case.ratio for case in n.cases.values()]
    seqs = ", ".join(str(v) for v in sorted({c.seq_len for c in n.cases.values()}))
    sizes = ", ".join(str(v) for v in sorted({c.batch for c in n.cases.values()}))
    explained = verdict(abs(gap.unexplained_bytes), 0, "NOT fully explained", "explained to the byte",
                        "bytes unexplained")
    excess = verdict(gap.total_bytes, 0, "excess", "shortfall", "bytes over the formula")
    one_forward = verdict(abs(ckpt.recompute_flops_no_early_stop - n.forward_flops), 0, "NOT one forward",
                          "exactly one forward", "FLOPs apart")
    flops_match = verdict(abs(n.forward_flops - n.forward_flops_formula), 0, "NOT equal", "equal", "FLOPs apart")
    fused_vs_written = verdict(sdpa.attention_bytes, n.explicit_attention_bytes, "more than", "less than",
                               "the bytes written out")
    same_grads = verdict(ckpt.grad_max_abs_diff, 0, "NOT identical", "bit-identical", "exact")
    # the paper's selective recomputation: Q·Kᵀ (2bs^2h) and scores·V (2bs^2h) make 4bs^2h
    beyond_qk = verdict(abs(sel.recompute_flops - sel.recompute_formula / 2), 0, "more than Q·Kᵀ", "only Q·Kᵀ",
                        "FLOPs beyond Q·Kᵀ")
    paper_4bs2h = verdict(abs(sel.recompute_flops_no_early_stop - sel.recompute_formula), 0, "NOT equal to",
                          "equal to", "FLOPs apart")
    findings = [
        f"Across the {len(n.cases)} case{'s' if len(n.cases) > 1 else ''} (s in {seqs}; b in {sizes}; h = {n.n_embd}, a = "
        f"{n.n_head}, bf16) the layer saves "
        + (f"{min(ratios):.3f}x to {max(ratios):.3f}x" if len(ratios) > 1 and min(ratios) != max(ratios)
           else f"{ratios[0]:.3f}x") + " what sbh(34 + 5as/h) "
        f"predicts; at s = {s}, b = {b} it is {n.saved_bytes / MB:.2f} MB against {n.formula_bytes / MB:.2f} MB "
        f"({n.activation_formula_ratio:.3f}x).",
        f"The {abs(gap.total_bytes):,}-byte {excess} at s = {s}, b = {b} is {explained} "
        f"({gap.unexplained_bytes:,} bytes left) by the per-op breakdown: " + "; ".join(gap_reasons(gap)) + ".",
        f"In fp32 the formula becomes sbh(66 + 9as/h): every activation term doubles, the 1-byte masks would "
        f"not. The layer saves {fp32.saved_bytes / MB:.2f} MB, {fp32.ratio:.3f}x of that "
        f"({fp32.formula_bytes / MB:.2f} MB)"
        + (f", {verdict(fp32.ratio, n.activation_formula_ratio, 'further above it', 'NOT further above it', 'the bf16 ratio')}"
           f" than in bf16 ({n.activation_formula_ratio:.3f}x); its dropout masks are {fp32.dropout_mask_dtype} "
           f"now, 4 bytes each where the formula counts 1." if fp32.dropout_mask_dtype != "none" else "."),
        f"Fused attention ({sdpa.backward}, attention dropout 0) saves {sdpa.attention_bytes / MB:.2f} MB for "
        f"the attention, {fused_vs_written} the {n.explicit_attention_bytes / MB:.2f} MB written out: no s x s "
        f"tensor, only Q, K, "
        f"V, its output and a {sdpa.logsumexp_bytes:,}-byte fp32 logsumexp per query row and head; backward "
        f"recomputes the scores. "
        f"The layer then saves {sdpa.saved_bytes / MB:.2f} MB, {sdpa.ratio:.3f}x the formula. With "
        f"attention dropout this CPU build has no fused kernel: autograd records {sdpa.dropout_backward} and "
        f"the attention alone saves {sdpa.dropout_saved_bytes / MB:.2f} MB in {sdpa.dropout_dtypes}.",
        f"torch.utils.checkpoint around the layer (use_reentrant=False) keeps only its input, "
        f"{ckpt.saved_bytes:,} bytes = 2sbh ({ckpt.formula_bytes:,}), "
        f"{ckpt.saved_fraction:.1%} less. Backward reruns the forward: with early stop off FlopCounterMode "
        f"counts {ckpt.recompute_flops_no_early_stop:,} extra FLOPs, "
        + one_forward
        + f" ({n.forward_flops:,}; 24bsh^2 + 4bs^2h gives {n.forward_flops_formula:,}, "
        + flops_match
        + "). By default it counts "
        + (f"{ckpt.recompute_flops:,}, the same (0 fewer): the last tensor backward needs, the final dropout's "
           f"mask, is made at the very end"
           if verdict(ckpt.early_stop_skipped_flops, 0, "fewer", "the same", "FLOPs skipped") == "the same" else
           f"{ckpt.recompute_flops:,}, {ckpt.early_stop_skipped_flops:,} fewer: recomputation stops "
           f"once backward has every tensor it needs, and the last matmul's output is not one of them")
        + f"; that is {ckpt.recompute_fraction:.1%} on top of the {n.train_step_flops:,} of a step. The "
        f"gradients are {same_grads} (largest difference {ckpt.grad_max_abs_diff:g}).",
        f"Checkpointing only the attention core (the paper's selective recomputation) keeps "
        f"{sel.saved_bytes / MB:.2f} MB, against the paper's 34sbh = {sel.formula_bytes / MB:.2f} MB "
        f"({sel.saved_fraction:.1%} less than no checkpoint) for {sel.recompute_fraction:.1%} more "
        f"FLOPs: {sel.recompute_flops:,}, {beyond_qk} (2bs^2h), because non-reentrant checkpoint stops "
        f"recomputing once backward has every tensor it needs; with early stop off it is "
        f"{sel.recompute_flops_no_early_stop:,}, {paper_4bs2h} the paper's 4bs^2h = {sel.recompute_formula:,}.",
    ]
    variants = {  # run -> (bytes saved, bytes the formula gives, the formula)
        "written out, bf16": (n.saved_bytes, n.formula_bytes, "sbh(34 + 5as/h)"),
        "written out, fp32": (fp32.saved_bytes, fp32.formula_bytes, "sbh(66 + 9as/h)"),
        "fused SDPA, bf16": (sdpa.saved_bytes, n.formula_bytes, "sbh(34 + 5as/h)"),
        "checkpoint layer": (ckpt.saved_bytes, ckpt.formula_bytes, "2sbh"),
        "checkpoint core": (sel.saved_bytes, sel.formula_bytes, "34sbh"),
    }
    return Report(
        summary=f"A GPT layer (h = {n.n_embd}, {n.n_head} heads) at s = {s}, b = {b} saves "
                f"{n.saved_bytes / MB:.2f} MB for backward, {n.activation_formula_ratio:.3f}x Korthikanti et al.'s "
                f"formula; checkpointing it keeps {ckpt.saved_fraction:.1%} less for "
                f"{ckpt.recompute_fraction:.1%} more FLOPs.",
        findings=findings,
        tables=[
            Table.of("Saved for backward, bf16 (MB = 1e6 bytes)", n.cases, {
                "s": "seq_len", "b": "batch",
                "measured": lambda _, c: round(c.saved_bytes / MB, 3),
                "formula": lambda _, c: round(c.formula_bytes / MB, 3),
                "ratio": lambda _, c: round(c.ratio, 4),
            }),
            Table.of(f"Per op at s = {s}, b = {b} (bytes)", n.breakdown, {
                "op": "label", "measured": "measured", "paper": "paper",
                "gap": lambda _, op: op.measured - op.paper,
            }, note="q k v, scores: Q and K for Q·Kᵀ, V and the dropped-out scores for scores·V"),
            Table.of(f"Variants at s = {s}, b = {b}", variants, {
                "run": "key",
                "MB": lambda _, v: round(v[0] / MB, 3),
                "/ formula": lambda _, v: round(v[0] / v[1], 4),
                "formula": lambda _, v: v[2],
            }),
        ],
        model=f"one GPT-2-style layer, h = {n.n_embd}, {n.n_head} heads",
    )


# --- 5. The probe -------------------------------------------------------------------------------
# Before issue 21 every record was unrolled into prefixed fields (fp32_ratio, checkpoint_saved_bytes).
RENAMED = {
    **{f"{old}{name}": f"{new}.{name}" for old, new, record in (
        ("fp32_", "fp32", Fp32), ("sdpa_", "sdpa", FusedAttention), ("checkpoint_", "checkpoint", Checkpoint),
        ("selective_", "selective", Checkpoint)) for name in record.__dataclass_fields__},
    **{name: f"gap.{name}" for name in ("dropout_mask_extra_bytes", "layernorm_stats_bytes", "causal_mask_bytes",
                                        "shared_scores_bytes", "unexplained_bytes")},
    "gap_bytes": "gap.total_bytes",
}

PROBE = Probe(
    name="activation-memory",
    question="activation-memory",
    title="Activation memory of a transformer layer: saved tensors vs Korthikanti et al.'s sbh(34 + 5as/h), "
          "and what checkpointing saves and recomputes",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("A GPT layer with h = 256, 4 heads, s = 512, b = 4 in bf16: how many MB of activations does it "
                   "save for backward?", "saved_bytes", "bytes", scoring="log10"),
        Prediction("What fraction of those bytes does checkpointing the whole layer avoid keeping?",
                   "checkpoint.saved_fraction", ""),
    ),
    renamed_metrics=RENAMED,
)
