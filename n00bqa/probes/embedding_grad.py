"""How can PyTorch autograd compute the gradient for one row of an embedding table?

On the bundled all-MiniLM-L6-v2's real word-embedding table (30,522 × 384) and its tokenizer:
the forward lookup is an index select (`table[ids]`), so backward can only send gradient to the
rows whose ids were selected, and a token used twice gets the sum of its positions' gradients.
The same lookup written as one-hot × table gives the same output and the same gradient, at the cost
of a (tokens × vocabulary) matrix. With `sparse=True` the gradient is a sparse COO tensor holding
only the used rows; some optimizers accept it (SGD, SparseAdam, Adagrad) and others refuse it.
Dense Adam keeps moving rows after their gradient is gone (momentum); SparseAdam does not.
Finally the time of one backward + optimizer step on a large table, dense vs sparse.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from n00bqa.errors import ProbeError
from n00bqa.probes.models import BUNDLED_NAME
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table

# Two more sentences for the optimizer steps: they share no word with each other except "the".
OTHER_SENTENCES = ("A dog barked at the mailman.", "Quantum physics puzzles students.")


@dataclass
class EmbeddingGradOptions:
    text: str = field(default="the cat sat on the mat", metadata={
        "help": "Text to look up in MiniLM's table; use a repeated word to see gradients add up."})
    big_vocab: int = field(default=250_000, metadata={
        "help": "Rows of the large table used to time a dense vs a sparse backward + step."})
    # 250k × 256 keeps the default run well under a minute on 2 busy cores; --big-dim 1024 is a
    # typical LLM width (a dense Adam step then moves 4 GB of fp32 state and takes seconds).
    big_dim: int = field(default=256, metadata={"help": "Columns of the large timing table."})
    batch_tokens: int = field(default=4096, metadata={"help": "Tokens looked up per timed step."})
    reps: int = field(default=3, metadata={"help": "Timed repetitions per variant (the median is reported)."})


def check(opts: EmbeddingGradOptions) -> None:
    if not opts.text.strip():
        raise ProbeError("--text is empty; give a sentence, e.g. --text 'the cat sat on the mat'")
    if len(opts.text) > 2000:
        raise ProbeError(f"--text is {len(opts.text)} characters; keep it under 2000")
    if not 1 <= opts.big_vocab <= 2_000_000:
        raise ProbeError(f"--big-vocab {opts.big_vocab} must be between 1 and 2000000 rows")
    if not 1 <= opts.big_dim <= 8192:
        raise ProbeError(f"--big-dim {opts.big_dim} must be between 1 and 8192")
    if opts.big_vocab * opts.big_dim > 600_000_000:
        raise ProbeError(f"--big-vocab × --big-dim = {opts.big_vocab * opts.big_dim:,} numbers is too large for "
                         "this probe's memory budget (at most 600,000,000, i.e. 2.4 GB per fp32 copy)")
    if not 1 <= opts.batch_tokens <= 1_000_000:
        raise ProbeError(f"--batch-tokens {opts.batch_tokens} must be between 1 and 1000000")
    if not 1 <= opts.reps <= 20:
        raise ProbeError(f"--reps {opts.reps} must be between 1 and 20")


def tensor_bytes(t) -> int:
    return t.numel() * t.element_size()


def sparse_bytes(g) -> int:
    """Bytes a COO tensor stores: its indices (ndim × nnz int64) plus its values."""
    return tensor_bytes(g._indices()) + tensor_bytes(g._values())


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
    # 3. a repeated token
    repeat_grad_is_sum: bool
    repeat_grad_max_abs_diff: float
    # 4. one-hot × table
    onehot_output_max_abs_diff: float
    onehot_grad_max_abs_diff: float
    one_hot_bytes: int
    # 5. sparse=True
    dense_grad_bytes: int
    sparse_grad_bytes: int
    coalesced_grad_bytes: int
    coalesced_nnz: int
    sparse_grad_equals_dense: bool
    sgd_accepts_sparse: bool
    adagrad_accepts_sparse: bool
    sparseadam_accepts_sparse: bool
    adam_accepts_sparse: bool
    adamw_accepts_sparse: bool
    rmsprop_accepts_sparse: bool
    # 6. rows moved without a gradient, summed over the steps
    adam_rows_moved_without_grad: int
    adamw_rows_moved_without_grad: int
    sparseadam_rows_moved_without_grad: int
    # 7. timing on a large table
    dense_adam_step_ms: float
    sparse_adam_step_ms: float
    sparse_speedup: float  # dense time / sparse time
    dense_timed_grad_bytes: int
    sparse_timed_grad_bytes: int
    # report-only (strings and lists are not metrics)
    token_strings: list[str] = field(default_factory=list)
    repeated_token: str = ""
    repeated_positions: list[int] = field(default_factory=list)
    repeated_position_norms: list[float] = field(default_factory=list)
    coo_indices: list[int] = field(default_factory=list)
    sparse_layout: str = ""
    accepts: dict[str, bool] = field(default_factory=dict)  # optimizer name -> takes a sparse gradient
    moved_per_step: dict[str, list[int]] = field(default_factory=dict)
    token_rows: list[list[Any]] = field(default_factory=list)
    optimizer_rows: list[list[Any]] = field(default_factory=list)
    movement_rows: list[list[Any]] = field(default_factory=list)


def measure(opts: EmbeddingGradOptions, ctx: Context) -> Numbers:
    import copy
    import warnings

    import torch
    import torch.nn.functional as F

    from n00bqa.probes.models import load_model, load_tokenizer

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

    # 3. A token used twice: its row's gradient = the sum of its positions' gradients.
    repeated = [(int(i), int(c)) for i, c in zip(unique_ids, counts) if c > 1]
    repeat_diffs = []
    for token_id, _ in repeated:
        positions = (ids == token_id).nonzero().flatten()
        summed = looked_up.grad[positions].sum(dim=0)  # (n, d) -> (d,)
        repeat_diffs.append(float((grad[token_id] - summed).abs().max()))
    repeat_max_diff = max(repeat_diffs) if repeat_diffs else 0.0
    repeat_is_sum = bool(repeated) and all(torch.allclose(grad[t], looked_up.grad[(ids == t)].sum(0), rtol=1e-5,
                                                          atol=1e-7) for t, _ in repeated)
    if repeated:
        first_id = repeated[0][0]
        first_positions = (ids == first_id).nonzero().flatten().tolist()
        per_position_norms = [float(looked_up.grad[p].norm()) for p in first_positions]
    advance(1)

    # 4. The same lookup as a matmul: one-hot (T, V) @ table (V, d) -> (T, d).
    table.grad = None
    one_hot = F.one_hot(ids, vocab_size).to(table.dtype)  # (T, V)
    via_matmul = one_hot @ table  # (T, V) @ (V, d) -> (T, d)
    output_diff = float((via_matmul - table[ids]).detach().abs().max())
    loss_of(via_matmul).backward()
    onehot_grad_diff = float((table.grad - grad).abs().max())
    one_hot_bytes = tensor_bytes(one_hot)
    advance(1)

    # 5. sparse=True: nn.Embedding returns a sparse COO gradient holding only the used rows.
    embedding = torch.nn.Embedding.from_pretrained(table.detach().clone(), freeze=False, sparse=True)
    loss_of(embedding(ids)).backward()
    sparse_grad = embedding.weight.grad
    coo_indices = sparse_grad._indices().flatten().tolist()  # one entry per position, duplicates kept
    sparse_grad_bytes = sparse_bytes(sparse_grad)
    coalesced = sparse_grad.coalesce()  # duplicates summed: one entry per unique id
    coalesced_bytes = sparse_bytes(coalesced)
    dense_grad_bytes = tensor_bytes(grad)
    sparse_equals_dense = bool(torch.allclose(coalesced.to_dense(), grad, rtol=1e-5, atol=1e-7))

    # Which optimizers take a sparse gradient? Try each one's step.
    optimizer_rows = []
    accepts: dict[str, bool] = {}
    for name in ("SGD", "Adagrad", "SparseAdam", "Adam", "AdamW", "RMSprop"):
        verdicts = []
        for kind in ("sparse", "dense"):
            weight = torch.nn.Parameter(table.detach().clone())
            weight.grad = sparse_grad.clone() if kind == "sparse" else grad.clone()
            optimizer = getattr(torch.optim, name)([weight], lr=1e-3)
            try:
                with warnings.catch_warnings():  # torch's note on unchecked sparse invariants
                    warnings.simplefilter("ignore", UserWarning)
                    optimizer.step()
                verdicts.append("accepts")
                if kind == "sparse":
                    accepts[name] = True
            except (RuntimeError, ValueError) as exc:
                verdicts.append("refuses: " + str(exc).strip().splitlines()[0][:90])
                if kind == "sparse":
                    accepts[name] = False
        optimizer_rows.append([name, *verdicts])
    advance(1)

    # 6. Dense Adam vs SparseAdam over three steps on three different sentences.
    step_ids = [ids] + [torch.tensor(tokenizer(s)["input_ids"]) for s in OTHER_SENTENCES]
    movement_rows = []
    moved_without_grad: dict[str, list[int]] = {}
    for name, sparse in (("Adam", False), ("AdamW", False), ("SparseAdam", True)):
        emb = torch.nn.Embedding.from_pretrained(table.detach().clone(), freeze=False, sparse=sparse)
        optimizer = getattr(torch.optim, name)(emb.parameters(), lr=1e-3)
        moved_without_grad[name] = []
        for step, batch in enumerate(step_ids, 1):
            before = emb.weight.detach().clone()
            optimizer.zero_grad()
            loss_of(emb(batch)).backward()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                optimizer.step()
            moved = (emb.weight.detach() != before).any(dim=1)  # (V,)
            has_grad = torch.zeros(vocab_size, dtype=torch.bool)
            has_grad[batch.unique()] = True
            without = int((moved & ~has_grad).sum())
            moved_without_grad[name].append(without)
            movement_rows.append([name, step, int(has_grad.sum()), int(moved.sum()), without])
    advance(1)

    # 7. Time one backward + step on a large table: dense grad + Adam vs sparse grad + SparseAdam.
    generator = torch.Generator().manual_seed(ctx.seed)
    batch = torch.randint(0, opts.big_vocab, (opts.batch_tokens,), generator=generator)  # (N,)
    timings = {}
    for name, sparse in (("dense + Adam", False), ("sparse + SparseAdam", True)):
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
        timings[name] = statistics.median(seconds)
        del big, optimizer
    advance(1)

    # The token table, and which optimizers took the sparse gradient, for the report.
    token_rows = [[p, tok, str(int(i)), round(float(looked_up.grad[p].norm()), 6), round(float(grad[i].norm()), 6)]
                  for p, (tok, i) in enumerate(zip(tokens, ids))]
    return Numbers(
        vocab_size=vocab_size, embedding_dim=dim, tokens=len(ids), unique_tokens=len(unique_ids),
        nonzero_grad_rows=nonzero_rows, grad_rows_are_token_ids=rows_are_ids,
        repeat_grad_is_sum=repeat_is_sum, repeat_grad_max_abs_diff=repeat_max_diff,
        onehot_output_max_abs_diff=output_diff, onehot_grad_max_abs_diff=onehot_grad_diff,
        one_hot_bytes=one_hot_bytes,
        dense_grad_bytes=dense_grad_bytes, sparse_grad_bytes=sparse_grad_bytes, coalesced_grad_bytes=coalesced_bytes,
        coalesced_nnz=int(coalesced._nnz()), sparse_grad_equals_dense=sparse_equals_dense,
        **{f"{n.lower()}_accepts_sparse": ok for n, ok in accepts.items()},
        adam_rows_moved_without_grad=sum(moved_without_grad["Adam"]),
        adamw_rows_moved_without_grad=sum(moved_without_grad["AdamW"]),
        sparseadam_rows_moved_without_grad=sum(moved_without_grad["SparseAdam"]),
        dense_adam_step_ms=round(timings["dense + Adam"] * 1000, 3),
        sparse_adam_step_ms=round(timings["sparse + SparseAdam"] * 1000, 3),
        sparse_speedup=timings["dense + Adam"] / timings["sparse + SparseAdam"],
        dense_timed_grad_bytes=opts.big_vocab * opts.big_dim * 4,
        sparse_timed_grad_bytes=opts.batch_tokens * (8 + opts.big_dim * 4),
        token_strings=tokens,
        repeated_token=tokenizer.convert_ids_to_tokens([repeated[0][0]])[0] if repeated else "",
        repeated_positions=first_positions if repeated else [],
        repeated_position_norms=per_position_norms if repeated else [],
        coo_indices=coo_indices, sparse_layout=str(sparse_grad.layout), accepts=accepts,
        moved_per_step=moved_without_grad, token_rows=token_rows, optimizer_rows=optimizer_rows,
        movement_rows=movement_rows,
    )


def report(n: Numbers, opts: EmbeddingGradOptions) -> Report:
    findings = [
        f"The text becomes {n.tokens} tokens ({' '.join(n.token_strings)}), {n.unique_tokens} of them distinct, "
        f"looked up in a {n.vocab_size:,} × {n.embedding_dim} table: the forward pass is table[ids], an index "
        f"select of {n.tokens} rows.",
        f"After backward, {n.nonzero_grad_rows} of {n.vocab_size:,} rows have a non-zero gradient"
        f" — {'exactly' if n.grad_rows_are_token_ids else 'NOT'} the {n.unique_tokens} distinct token ids; the "
        f"other {n.vocab_size - n.nonzero_grad_rows:,} rows get zeros.",
    ]
    if n.repeated_positions:
        findings.append(
            f"'{n.repeated_token}' appears {len(n.repeated_positions)} times (positions {n.repeated_positions}, "
            "gradient norms " + ", ".join(f"{v:.4g}" for v in n.repeated_position_norms)
            + f"); its row's gradient is the sum of those positions' gradients (max abs difference "
            f"{n.repeat_grad_max_abs_diff:.2g}): backward of an index select adds into the row (index_add).")
    else:
        findings.append("No token repeats in this text, so there is no sum to check; try --text with a word twice.")
    findings += [
        f"one-hot ({n.tokens} × {n.vocab_size:,}, {n.one_hot_bytes:,} bytes) × table gives the same vectors (max "
        f"abs difference {n.onehot_output_max_abs_diff:.2g}) and the same table gradient (max abs difference "
        f"{n.onehot_grad_max_abs_diff:.2g}); the gradient of a matmul by a one-hot matrix is the lookup's gradient.",
        f"With sparse=True the gradient is a {n.sparse_layout} tensor with indices {n.coo_indices} "
        f"(one per position, duplicates kept): {n.sparse_grad_bytes:,} bytes against {n.dense_grad_bytes:,} for "
        f"the dense gradient; coalesced (duplicates summed) it holds {n.coalesced_nnz} rows in "
        f"{n.coalesced_grad_bytes:,} bytes, and equals the dense gradient: "
        f"{'yes' if n.sparse_grad_equals_dense else 'no'}.",
        "Optimizers given the sparse gradient: "
        + ", ".join(f"{name} {'accepts' if ok else 'refuses'}" for name, ok in n.accepts.items()) + ".",
        f"Over 3 steps on different sentences, rows that moved although their gradient that step was zero: "
        f"Adam {n.moved_per_step['Adam']}, AdamW {n.moved_per_step['AdamW']}, SparseAdam "
        f"{n.moved_per_step['SparseAdam']} — Adam's momentum keeps moving rows seen before, AdamW's weight "
        "decay moves every row, SparseAdam touches only the rows in the batch.",
        f"On a {opts.big_vocab:,} × {opts.big_dim} table with {opts.batch_tokens:,} tokens per step, backward + "
        f"step takes {n.dense_adam_step_ms:.0f} ms dense with Adam and {n.sparse_adam_step_ms:.0f} ms sparse "
        f"with SparseAdam (median of {opts.reps}): {n.sparse_speedup:.1f}× faster sparse.",
    ]
    tables = [
        Table("Tokens and their gradient rows", ["position", "token", "id", "grad norm at position",
                                                 "row grad norm"], n.token_rows,
              note="A repeated token's row gradient is the sum of its positions' gradients, so its norm differs "
                   "from each position's."),
        Table("Optimizers given a sparse vs a dense gradient", ["optimizer", "sparse grad", "dense grad"],
              n.optimizer_rows),
        Table("Rows that move per step (real MiniLM table, lr 1e-3)",
              ["optimizer", "step", "rows with grad", "rows moved", "moved with zero grad"], n.movement_rows),
        Table(f"backward + step on a {opts.big_vocab:,} × {opts.big_dim} table",
              ["variant", "median ms", "gradient bytes"],
              [["dense + Adam", round(n.dense_adam_step_ms, 1), n.dense_timed_grad_bytes],
               ["sparse + SparseAdam", round(n.sparse_adam_step_ms, 1), n.sparse_timed_grad_bytes]],
              note="Times on this machine's CPU; noisy when it is busy."),
    ]
    summary = (f"An embedding lookup is an index select, so its gradient lands only in the {n.unique_tokens} rows "
               f"of the {n.vocab_size:,}-row table that the text used, summed over repeats. A sparse gradient "
               "stores just those rows; only some optimizers accept it, and only SparseAdam leaves unused rows "
               "alone.")
    return Report(summary=summary, findings=findings, tables=tables, model=BUNDLED_NAME)


PROBE = Probe(
    name="embedding-grad",
    question="embedding-grad",
    title="Gradient of an embedding lookup on MiniLM's real table: which rows, repeats, one-hot, sparse, optimizers",
    options=EmbeddingGradOptions,
    measure=measure,
    report=report,
    check=check,
    threads=None,  # the timing step's large table gains from every thread
    predictions=(
        Prediction("'the cat sat on the mat' is 8 tokens with [CLS] and [SEP]: how many of MiniLM's 30,522 rows get "
                   "a non-zero gradient?", "nonzero_grad_rows", "rows"),
        Prediction("How many bytes does the dense gradient of MiniLM's 30,522 × 384 fp32 table take?",
                   "dense_grad_bytes", "bytes", scoring="log10"),
    ),
)
