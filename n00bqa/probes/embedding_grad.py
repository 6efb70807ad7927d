"""How can PyTorch autograd compute the gradient for one row of an embedding table?

On the bundled all-MiniLM-L6-v2's real word-embedding table (30,522 × 384) and its tokenizer:
the forward lookup is an index select (`table[ids]`), so backward can only send gradient to the
rows whose ids were selected, and a token used twice gets the sum of its positions' gradients.
The same lookup written as one-hot × table gives the same output and the same gradient, at the cost
of a (tokens × vocabulary) matrix. With `sparse=True` the gradient is a sparse COO tensor holding
only the used rows (its bytes measured from its storage); each optimizer is tried on it.
Then seven optimizers (SGD, SGD with momentum, Adagrad, RMSprop, Adam, AdamW, SparseAdam) take three
steps on three sentences, and the probe counts the distinct rows each one moved in a step where their
gradient was zero, and measures the bytes of each one's state. Finally the time of one backward +
optimizer step on a large table, dense vs sparse.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.models import BUNDLED_NAME

# Two more sentences for the optimizer steps: they share no word with each other except "the".
OTHER_SENTENCES = ("A dog barked at the mailman.", "Quantum physics puzzles students.")
TOLERANCE = 1e-5  # float32 sums over a few positions agree to about this
LR = 1e-3
# Every optimizer the question names, as (metric key, label, constructor name, extra arguments, gradient kind).
OPTIMIZERS = (
    ("sgd", "SGD", "SGD", {}, "dense"),
    ("sgd_momentum", "SGD+momentum", "SGD", {"momentum": 0.9}, "dense"),
    ("adagrad", "Adagrad", "Adagrad", {}, "dense"),
    ("rmsprop", "RMSprop", "RMSprop", {}, "dense"),
    ("adam", "Adam", "Adam", {}, "dense"),
    ("adamw", "AdamW", "AdamW", {}, "dense"),  # weight_decay 0.01 by default
    ("sparseadam", "SparseAdam", "SparseAdam", {}, "sparse"),  # takes only sparse gradients
)


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    text: str = field(default="the cat sat on the mat", metadata={
        "help": "Text to look up in MiniLM's table; use a repeated word to see gradients add up."})
    big_vocab: int = field(default=250_000, metadata={
        "help": "Rows of the large table used to time a dense vs a sparse training step (zero_grad, forward, backward, step)."})
    # 250k × 256 keeps the default run well under a minute on 2 busy cores; --big-dim 1024 is a
    # typical LLM width (a dense Adam step then moves 4 GB of fp32 state and takes seconds).
    big_dim: int = field(default=256, metadata={"help": "Columns of the large timing table."})
    batch_tokens: int = field(default=4096, metadata={"help": "Tokens looked up per timed step."})
    reps: int = field(default=3, metadata={"help": "Timed repetitions per variant (the median is reported)."})


def check(opts: Options) -> None:
    if not opts.text.strip():
        raise ProbeError("--text is empty; give a sentence, e.g. --text 'the cat sat on the mat'")
    if len(opts.text) > 2000:
        raise ProbeError(f"--text is {len(opts.text)} characters; keep it under 2000")
    check_ranges(opts, {"big_vocab": (1, 2_000_000, "rows"), "big_dim": (1, 8192), "batch_tokens": (1, 1_000_000),
                        "reps": (1, 20)})
    if opts.big_vocab * opts.big_dim > 600_000_000:
        raise ProbeError(f"--big-vocab × --big-dim = {opts.big_vocab * opts.big_dim:,} numbers is too large for "
                         "this probe's memory budget (at most 600,000,000, i.e. 2.4 GB per fp32 copy)")


def storage_bytes(*tensors) -> int:
    """Bytes actually allocated for these tensors, each storage counted once (a sparse tensor: its
    indices' and values' storages). Read from the storages, not computed from shapes."""
    seen: dict[int, int] = {}
    for t in tensors:
        parts = (t._indices(), t._values()) if t.is_sparse else (t,)
        for part in parts:
            storage = part.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def tensor_bytes(t) -> int:
    """Bytes a tensor's elements occupy (a sparse tensor: its indices and values), from its own size."""
    if t.is_sparse:
        return tensor_bytes(t._indices()) + tensor_bytes(t._values())
    return t.numel() * t.element_size()


def optimizer_state_bytes(optimizer) -> int:
    """Bytes of every tensor an optimizer keeps between steps (moments, sums, momentum buffers, step)."""
    import torch

    return storage_bytes(*(v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)))


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class OptimizerRun:
    """One optimizer: given a sparse and a dense gradient, then three steps on the real table."""

    label: str
    accepts_sparse: bool
    sparse_grad: str  # "accepts" or "refuses: <torch's reason>"
    dense_grad: str
    rows_moved_without_grad: int  # distinct rows that changed in a step where their gradient was zero
    moved_per_step: list[int]  # the same, per step
    state_bytes: int  # read from its state tensors after the steps


@dataclass
class TimedStep:
    """backward + optimizer step on the large table, median over the repetitions."""

    step_ms: float
    grad_bytes: int
    state_bytes: int


@dataclass
class Numbers:
    """What embedding-grad measures; every numeric field is a `--json` metric."""

    # 1-2. the tokens and the rows their gradient lands in
    vocab_size: int
    embedding_dim: int
    tokens: int
    unique_tokens: int
    nonzero_grad_rows: int
    grad_rows_are_token_ids: bool
    grad_rows_off_token_ids: int  # rows with a gradient that are no token id, plus token ids without one
    # 3. a repeated token
    repeat_grad_is_sum: bool
    repeat_grad_max_abs_diff: float
    # 4. one-hot × table
    onehot_output_max_abs_diff: float
    onehot_grad_max_abs_diff: float
    one_hot_bytes: int
    # 5. sparse=True (bytes read from the tensors' storages)
    dense_grad_bytes: int
    sparse_grad_bytes: int
    coalesced_grad_bytes: int  # what its indices and values hold (numel × element size)
    coalesced_grad_storage_bytes: int  # what their storages allocate
    coalesced_nnz: int
    sparse_grad_equals_dense: bool
    sparse_grad_max_abs_diff: float  # coalesced sparse gradient, densified, vs the dense gradient
    # 6. every optimizer: does it take a sparse gradient, which rows did it move without a gradient
    # (3 steps), what state does it keep
    optimizers: dict[str, OptimizerRun]  # key of OPTIMIZERS -> its run
    table_bytes: int  # the fp32 table itself
    sparseadam_nonzero_moment_rows: int  # rows of SparseAdam's exp_avg that are not all zero
    rows_with_grad_any_step: int  # distinct rows with a gradient in at least one of the steps
    optimizer_steps: int
    # 7. timing on a large table: "dense" (Adam) and "sparse" (SparseAdam)
    timed: dict[str, TimedStep]
    sparse_speedup: float  # dense time / sparse time
    tolerance: float
    # report-only (strings and lists are not metrics)
    token_strings: list[str] = field(default_factory=list)
    repeated_token: str = ""
    repeated_positions: list[int] = field(default_factory=list)
    repeated_position_norms: list[float] = field(default_factory=list)
    coo_indices: list[int] = field(default_factory=list)
    sparse_layout: str = ""
    token_grads: list[dict[str, Any]] = field(default_factory=list)  # per position: token, id, grad norms


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    import copy
    import warnings

    import torch
    import torch.nn.functional as F

    from n00bqa.probes.lib.models import load_model, load_tokenizer

    advance = ctx.task("Embedding gradients on MiniLM", 6)
    tokenizer = load_tokenizer(None)
    # A private copy: we train the table and must not touch the shared, cached model.
    encoder = copy.deepcopy(load_model(None))
    encoder.requires_grad_(False)  # the encoder stays frozen; only our copy of the table learns
    table = torch.nn.Parameter(encoder.embeddings.word_embeddings.weight.detach().clone())
    vocab_size, dim = table.shape

    def loss_of(token_vectors):
        """A real downstream: MiniLM's encoder on the looked-up vectors, mean-pooled, squared norm."""
        hidden = encoder(inputs_embeds=token_vectors.unsqueeze(0)).last_hidden_state  # (1, T, d)
        return hidden.mean(dim=1).pow(2).sum()

    def quietly(step):
        with warnings.catch_warnings():  # torch's note on unchecked sparse invariants
            warnings.simplefilter("ignore", UserWarning)
            step()

    # 1. The tokens of --text (with [CLS] and [SEP], as the model sees them).
    ids = torch.tensor(tokenizer(opts.text)["input_ids"])  # (T,)
    tokens = tokenizer.convert_ids_to_tokens(ids.tolist())
    unique_ids, counts = torch.unique(ids, return_counts=True)
    advance(1)

    # 2. Forward: the lookup is an index select of rows.
    looked_up = table[ids]  # (V, d)[(T,)] -> (T, d)
    assert torch.equal(looked_up, torch.index_select(table, 0, ids))
    looked_up.retain_grad()  # keep dL/d(looked-up vectors), one row per position
    loss_of(looked_up).backward()
    grad = table.grad  # (V, d), dense
    nonzero_rows = int((grad != 0).any(dim=1).sum())
    rows_with_grad = set(torch.nonzero((grad != 0).any(dim=1)).flatten().tolist())
    rows_are_ids = rows_with_grad == set(unique_ids.tolist())
    rows_off_ids = len(rows_with_grad ^ set(unique_ids.tolist()))  # in one set and not the other

    # 3. A token used twice: its row's gradient = the sum of its positions' gradients.
    repeated = [int(i) for i, c in zip(unique_ids, counts) if c > 1]
    repeat_diffs = []
    for token_id in repeated:
        positions = (ids == token_id).nonzero().flatten()
        summed = looked_up.grad[positions].sum(dim=0)  # (n, d) -> (d,)
        repeat_diffs.append(float((grad[token_id] - summed).abs().max()))
    repeat_max_diff = max(repeat_diffs) if repeat_diffs else 0.0
    first_positions = (ids == repeated[0]).nonzero().flatten().tolist() if repeated else []
    advance(1)

    # 4. The same lookup as a matmul: one-hot (T, V) @ table (V, d) -> (T, d).
    table.grad = None
    one_hot = F.one_hot(ids, vocab_size).to(table.dtype)  # (T, V)
    via_matmul = one_hot @ table  # (T, V) @ (V, d) -> (T, d)
    output_diff = float((via_matmul - table[ids]).detach().abs().max())
    loss_of(via_matmul).backward()
    onehot_grad_diff = float((table.grad - grad).abs().max())
    advance(1)

    # 5. sparse=True: nn.Embedding returns a sparse COO gradient holding only the used rows.
    embedding = torch.nn.Embedding.from_pretrained(table.detach().clone(), freeze=False, sparse=True)
    loss_of(embedding(ids)).backward()
    sparse_grad = embedding.weight.grad
    coo_indices = sparse_grad._indices().flatten().tolist()  # one entry per position, duplicates kept
    coalesced = sparse_grad.coalesce()  # duplicates summed: one entry per unique id
    sparse_equals_dense = bool(torch.allclose(coalesced.to_dense(), grad, rtol=TOLERANCE, atol=1e-7))
    sparse_diff = float((coalesced.to_dense() - grad).abs().max())

    # Which optimizers take a sparse gradient, and a dense one? Try each one's step. Taking one is a
    # property of the optimizer, not of the table's size: a small table of the same kind keeps it quick.
    small = torch.nn.Embedding(64, 8, sparse=True)
    small(torch.tensor([1, 5, 1])).pow(2).sum().backward()
    small_sparse_grad = small.weight.grad  # a COO gradient, as above
    small_dense_grad = small_sparse_grad.to_dense()
    verdicts_of: dict[str, list[str]] = {}  # key -> [sparse verdict, dense verdict]
    for key, label, cls, extra, _ in OPTIMIZERS:
        verdicts = []
        for kind in ("sparse", "dense"):
            weight = torch.nn.Parameter(small.weight.detach().clone())
            weight.grad = small_sparse_grad.clone() if kind == "sparse" else small_dense_grad.clone()
            optimizer = getattr(torch.optim, cls)([weight], lr=LR, **extra)
            try:
                quietly(optimizer.step)
                verdicts.append("accepts")
            except (RuntimeError, ValueError) as exc:
                verdicts.append("refuses: " + str(exc).strip().splitlines()[0][:60])
        verdicts_of[key] = verdicts
    advance(1)

    # 6. Three steps on three sentences with every optimizer: which rows move without a gradient?
    step_ids = [ids] + [torch.tensor(tokenizer(s)["input_ids"]) for s in OTHER_SENTENCES]
    optimizers: dict[str, OptimizerRun] = {}
    seen_with_grad: set[int] = set()
    sparseadam_nonzero_rows = 0
    for key, label, cls, extra, kind in OPTIMIZERS:
        emb = torch.nn.Embedding.from_pretrained(table.detach().clone(), freeze=False, sparse=kind == "sparse")
        optimizer = getattr(torch.optim, cls)(emb.parameters(), lr=LR, **extra)
        moved_per_step, moved_without = [], set()
        for batch in step_ids:
            before = emb.weight.detach().clone()
            optimizer.zero_grad()
            loss_of(emb(batch)).backward()
            g = emb.weight.grad
            has_grad = (g.coalesce().to_dense() if g.is_sparse else g).ne(0).any(dim=1)  # (V,), read from the grad
            quietly(optimizer.step)
            moved = (emb.weight.detach() != before).any(dim=1)  # (V,)
            without = torch.nonzero(moved & ~has_grad).flatten().tolist()
            moved_per_step.append(len(without))
            moved_without.update(without)
            seen_with_grad.update(torch.nonzero(has_grad).flatten().tolist())
        sparse_verdict, dense_verdict = verdicts_of[key]
        optimizers[key] = OptimizerRun(label=label, accepts_sparse=sparse_verdict == "accepts",
                                       sparse_grad=sparse_verdict, dense_grad=dense_verdict,
                                       rows_moved_without_grad=len(moved_without), moved_per_step=moved_per_step,
                                       state_bytes=optimizer_state_bytes(optimizer))
        if cls == "SparseAdam":
            exp_avg = optimizer.state[emb.weight]["exp_avg"]  # (V, d): full size, like the table
            sparseadam_nonzero_rows = int(exp_avg.ne(0).any(dim=1).sum())
    advance(1)

    # 7. Time one training step (zero_grad + forward + backward + step) on a large table: dense grad + Adam vs sparse grad + SparseAdam.
    generator = torch.Generator().manual_seed(ctx.seed)
    batch = torch.randint(0, opts.big_vocab, (opts.batch_tokens,), generator=generator)  # (N,)
    timed, median_seconds = {}, {}
    for name, sparse in (("dense", False), ("sparse", True)):
        big = torch.nn.Embedding(opts.big_vocab, opts.big_dim, sparse=sparse)
        optimizer = torch.optim.SparseAdam(big.parameters()) if sparse else torch.optim.Adam(big.parameters())
        seconds = []
        for rep in range(opts.reps + 1):  # the first step allocates the optimizer state: not timed
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=False)
            big(batch).pow(2).mean().backward()  # (N, d) -> scalar
            optimizer.step()
            if rep:
                seconds.append(time.perf_counter() - start)
        median_seconds[name] = statistics.median(seconds)
        timed[name] = TimedStep(step_ms=round(median_seconds[name] * 1000, 3),
                                grad_bytes=storage_bytes(big.weight.grad),
                                state_bytes=optimizer_state_bytes(optimizer))
        del big, optimizer
    advance(1)

    return Numbers(
        vocab_size=vocab_size, embedding_dim=dim, tokens=len(ids), unique_tokens=len(unique_ids),
        nonzero_grad_rows=nonzero_rows, grad_rows_are_token_ids=rows_are_ids, grad_rows_off_token_ids=rows_off_ids,
        repeat_grad_is_sum=bool(repeated) and repeat_max_diff <= TOLERANCE, repeat_grad_max_abs_diff=repeat_max_diff,
        onehot_output_max_abs_diff=output_diff, onehot_grad_max_abs_diff=onehot_grad_diff,
        one_hot_bytes=storage_bytes(one_hot),
        dense_grad_bytes=storage_bytes(grad), sparse_grad_bytes=storage_bytes(sparse_grad),
        coalesced_grad_bytes=tensor_bytes(coalesced), coalesced_grad_storage_bytes=storage_bytes(coalesced),
        coalesced_nnz=int(coalesced._nnz()),
        sparse_grad_equals_dense=sparse_equals_dense, sparse_grad_max_abs_diff=sparse_diff,
        optimizers=optimizers,
        table_bytes=storage_bytes(table), sparseadam_nonzero_moment_rows=sparseadam_nonzero_rows,
        rows_with_grad_any_step=len(seen_with_grad), optimizer_steps=len(step_ids),
        timed=timed, sparse_speedup=median_seconds["dense"] / median_seconds["sparse"],
        tolerance=TOLERANCE,
        token_strings=tokens, repeated_token=tokenizer.convert_ids_to_tokens([repeated[0]])[0] if repeated else "",
        repeated_positions=first_positions,
        repeated_position_norms=[float(looked_up.grad[p].norm()) for p in first_positions],
        coo_indices=coo_indices, sparse_layout=str(sparse_grad.layout),
        token_grads=[dict(token=tok, id=str(int(i)), at_position=float(looked_up.grad[p].norm()),
                          row=float(grad[i].norm())) for p, (tok, i) in enumerate(zip(tokens, ids))],
    )


def _names(items: list[str]) -> str:
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1] if items else "none"


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    runs = n.optimizers
    labels = {key: run.label for key, run in runs.items()}
    moved = {key: run.rows_moved_without_grad for key, run in runs.items()}
    # one verdict per optimizer: did it move any row whose gradient was zero?
    moves = {key: verdict(moved[key], 0, "moved", "left", f"rows {labels[key]} moved without a gradient")
             for key in labels}
    untouched = [labels[k] for k in labels if moves[k] == "left"]
    movers = [k for k in labels if moves[k] == "moved"]
    takes_sparse = [run.label for run in runs.values() if run.accepts_sparse]
    refuses_sparse = [run.label for run in runs.values() if not run.accepts_sparse]
    dense, sparse = n.timed["dense"], n.timed["sparse"]
    same = verdict(max(n.onehot_output_max_abs_diff, n.onehot_grad_max_abs_diff), n.tolerance,
                   "NOT the same", "the same", "tolerance")
    exactly = verdict(n.grad_rows_off_token_ids, 0, "NOT", "exactly", "rows off the token ids")
    findings = [
        f"The text becomes {n.tokens} tokens ({' '.join(n.token_strings)}), {n.unique_tokens} of them distinct, "
        f"looked up in a {n.vocab_size:,} × {n.embedding_dim} table: the forward pass is table[ids], an index "
        f"select of {n.tokens} rows.",
        f"After backward, {n.nonzero_grad_rows} of {n.vocab_size:,} rows have a non-zero gradient"
        f" — {exactly} the {n.unique_tokens} distinct token ids ({n.grad_rows_off_token_ids} rows in one set and "
        f"not the other); the other {n.vocab_size - n.nonzero_grad_rows:,} rows get zeros.",
    ]
    if n.repeated_positions:
        equals = verdict(n.repeat_grad_max_abs_diff, n.tolerance, "does NOT equal", "equals", "tolerance")
        findings.append(
            f"'{n.repeated_token}' appears {len(n.repeated_positions)} times (positions {n.repeated_positions}, "
            "gradient norms " + ", ".join(f"{v:.4g}" for v in n.repeated_position_norms)
            + f"); its row's gradient {equals} the sum of those positions' gradients within {n.tolerance:g} (max "
            f"abs difference over every repeated token {n.repeat_grad_max_abs_diff:.2g}): backward of an index "
            "select adds into the row (index_add).")
    else:
        findings.append("No token repeats in this text, so there is no sum to check; try --text with a word twice.")
    sparse_same = verdict(n.sparse_grad_max_abs_diff, n.tolerance, "does NOT equal", "equals", "tolerance")
    momentum = [labels[k] for k in ("sgd_momentum", "adam") if k in movers]
    why = [f"momentum ({', '.join(momentum)}) keeps pushing rows seen in earlier steps"] if momentum else []
    why += ["AdamW's decoupled weight decay shrinks every row, used or not"] if "adamw" in movers else []
    faster = verdict(n.sparse_speedup, 1, "faster", "not faster", "dense / sparse time")
    findings += [
        f"one-hot ({n.tokens} × {n.vocab_size:,}, {n.one_hot_bytes:,} bytes) × table gives {same} vectors and "
        f"{same} table gradient as the lookup within {n.tolerance:g} (max abs differences "
        f"{n.onehot_output_max_abs_diff:.2g} and {n.onehot_grad_max_abs_diff:.2g}): the gradient of a matmul by a "
        "one-hot matrix is the lookup's.",
        f"With sparse=True the gradient is a {n.sparse_layout} tensor with indices {n.coo_indices} "
        f"(one per position, duplicates kept): its storages hold {n.sparse_grad_bytes:,} bytes against "
        f"{n.dense_grad_bytes:,} for the dense gradient; coalesced (duplicates summed) it holds "
        f"{n.coalesced_nnz} rows, {n.coalesced_grad_bytes:,} bytes of indices and values (in storages of "
        f"{n.coalesced_grad_storage_bytes:,} bytes: coalesce narrows buffers sized for the entries before "
        f"deduplication), and {sparse_same} the dense gradient within {n.tolerance:g} (max abs difference "
        f"{n.sparse_grad_max_abs_diff:.2g}).",
        f"Given a sparse gradient, {_names(takes_sparse)} take it and {_names(refuses_sparse)} refuse it (each of "
        f"the {len(runs)} tried, on a small sparse table).",
        f"Over {n.optimizer_steps} steps on different sentences (lr {LR:g}, a dense gradient except for SparseAdam), "
        f"of the {len(labels)} optimizers measured {_names(untouched)} left every row whose gradient was zero "
        "exactly as it was (0 rows moved)"
        + "".join(f"; {labels[k]} moved {moved[k]:,} distinct such rows" for k in movers)
        + (". A zero gradient is no update only when the update is a function of this step's gradient alone: "
           + " and ".join(why) + "." if why else "."),
        f"Memory: SparseAdam saves the gradient (sparse, {n.sparse_grad_bytes:,} bytes here instead of "
        f"{n.dense_grad_bytes:,}) and the work of updating unused rows, but not the state: its two moments are "
        f"full-size tensors, {runs['sparseadam'].state_bytes:,} bytes against Adam's {runs['adam'].state_bytes:,} (the table "
        f"itself is {n.table_bytes:,}), of which only {n.sparseadam_nonzero_moment_rows} rows are non-zero after "
        f"{n.optimizer_steps} steps ({n.rows_with_grad_any_step} rows had a gradient in some step). SGD keeps "
        f"{runs['sgd'].state_bytes:,} bytes, SGD+momentum {runs['sgd_momentum'].state_bytes:,}, Adagrad "
        f"{runs['adagrad'].state_bytes:,}, RMSprop {runs['rmsprop'].state_bytes:,}.",
        f"On a {opts.big_vocab:,} × {opts.big_dim} table with {opts.batch_tokens:,} tokens per step, one training "
        f"step (zero_grad, forward, backward, optimizer step) takes {dense.step_ms:.0f} ms dense with Adam and "
        f"{sparse.step_ms:.0f} ms sparse with SparseAdam (median of {opts.reps}): sparse is {faster} in this run "
        f"(dense / sparse time = {n.sparse_speedup:.2f}, against 1). The sparse gradient's storages hold {sparse.grad_bytes:,} bytes against "
        f"{dense.grad_bytes:,} dense; SparseAdam keeps {sparse.state_bytes:,} bytes of state and "
        f"Adam {dense.state_bytes:,}.",
    ]
    tables = [
        Table.of("Tokens and their gradient rows", n.token_grads, {
                     "position": "key", "token": "token", "id": "id",
                     "grad at position": lambda _, t: round(t["at_position"], 6), "row grad": lambda _, t: round(t["row"], 6)},
                 note="Gradient norms. A repeated token's row gradient is the sum of its positions' gradients, so its "
                   "norm differs from each position's."),
        Table.of("Optimizers given a sparse vs a dense gradient", runs,
                 {"optimizer": "label", "sparse grad": "sparse_grad", "dense grad": "dense_grad"}, note="Tried on a small nn.Embedding(64, 8, sparse=True): whether an optimizer "
                                     "takes a gradient does not depend on the table's size."),
        Table.of(f"Rows moved although their gradient was zero (real MiniLM table, lr {LR:g})", runs, {
                     "optimizer": "label",
                     **{f"step {i + 1}": (lambda _, r, i=i: r.moved_per_step[i]) for i in range(n.optimizer_steps)},
                     "distinct": "rows_moved_without_grad", "state bytes": "state_bytes"},
                 note="Per step: rows whose values changed while their gradient that step was zero; distinct: over all "
                   "steps. Each optimizer starts from the same table. state bytes: read from its state tensors."),
        Table.of(f"zero_grad + forward + backward + step on a {opts.big_vocab:,} × {opts.big_dim} table", n.timed, {
                     "variant": lambda key, _: {"dense": "dense + Adam", "sparse": "sparse + SparseAdam"}[key],
                     "median ms": lambda _, t: round(t.step_ms, 1), "grad bytes": "grad_bytes",
                     "state bytes": "state_bytes"},
                 note="Times on this machine's CPU; noisy when it is busy. Bytes read from the tensors' storages."),
    ]
    summary = (f"An embedding lookup is an index select, so its gradient lands only in the {n.unique_tokens} rows "
               f"of the {n.vocab_size:,}-row table that the text used, summed over repeats. A sparse gradient "
               f"stores just those rows; {_names(takes_sparse)} accept it. Of {len(labels)} optimizers, "
               f"{_names(untouched)} leave rows without a gradient alone"
               + (f", and {_names([labels[k] for k in movers])} move them." if movers else "."))
    return Report(summary=summary, findings=findings, tables=tables, model=BUNDLED_NAME)


# --- 5. The probe -------------------------------------------------------------------------------
# Metrics renamed when the optimizers and the timed variants became records keyed by name.
RENAMED_METRICS = {
    **{f"{key}_{name}": f"optimizers.{key}.{name}" for key, *_ in OPTIMIZERS
       for name in ("accepts_sparse", "rows_moved_without_grad", "state_bytes")},
    "dense_adam_step_ms": "timed.dense.step_ms", "sparse_adam_step_ms": "timed.sparse.step_ms",
    **{f"{kind}_timed_{name}": f"timed.{kind}.{name}" for kind in ("dense", "sparse")
       for name in ("grad_bytes", "state_bytes")},
}

PROBE = Probe(
    name="embedding-grad",
    question="embedding-grad",
    title="Gradient of an embedding lookup on MiniLM's real table: which rows, repeats, one-hot, sparse, 7 optimizers",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a small encoder on a few tokens; on a busy 2-core machine two threads were slower
    predictions=(
        Prediction("'the cat sat on the mat' is 8 tokens with [CLS] and [SEP]: how many of MiniLM's 30,522 rows get "
                   "a non-zero gradient?", "nonzero_grad_rows", "rows"),
        Prediction("How many bytes does the dense gradient of MiniLM's 30,522 × 384 fp32 table take?",
                   "dense_grad_bytes", "bytes", scoring="log10"),
        Prediction("Over 3 steps on 3 sentences, how many distinct rows of MiniLM's table does AdamW move although "
                   "their gradient was zero?", "optimizers.adamw.rows_moved_without_grad", "rows", scoring="log10"),
    ),
    renamed_metrics=RENAMED_METRICS,
)
