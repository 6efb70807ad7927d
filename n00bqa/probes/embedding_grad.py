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

from n00bqa.errors import ProbeError
from n00bqa.probes.models import BUNDLED_NAME
from n00bqa.probes.base import Context, Measured, Probe, Table

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


def run(opts: EmbeddingGradOptions, ctx: Context) -> Measured:
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
    speedup = timings["dense + Adam"] / timings["sparse + SparseAdam"]

    # Findings, in the order above.
    n_tokens, n_unique = len(ids), len(unique_ids)
    findings = [
        f"The text becomes {n_tokens} tokens ({' '.join(tokens)}), {n_unique} of them distinct, looked up in a "
        f"{vocab_size:,} × {dim} table: the forward pass is table[ids], an index select of {n_tokens} rows.",
        f"After backward, {nonzero_rows} of {vocab_size:,} rows have a non-zero gradient"
        f" — {'exactly' if rows_are_ids else 'NOT'} the {n_unique} distinct token ids; the other "
        f"{vocab_size - nonzero_rows:,} rows get zeros.",
    ]
    if repeated:
        shown = tokenizer.convert_ids_to_tokens([first_id])[0]
        findings.append(
            f"'{shown}' appears {len(first_positions)} times (positions {first_positions}, gradient norms "
            + ", ".join(f"{n:.4g}" for n in per_position_norms)
            + f"); its row's gradient is the sum of those positions' gradients (max abs difference "
            f"{repeat_max_diff:.2g}): backward of an index select adds into the row (index_add).")
    else:
        findings.append("No token repeats in this text, so there is no sum to check; try --text with a word twice.")
    findings += [
        f"one-hot ({n_tokens} × {vocab_size:,}, {one_hot_bytes:,} bytes) × table gives the same vectors (max abs "
        f"difference {output_diff:.2g}) and the same table gradient (max abs difference {onehot_grad_diff:.2g}); "
        "the gradient of a matmul by a one-hot matrix is the lookup's gradient.",
        f"With sparse=True the gradient is a {sparse_grad.layout} tensor with indices {coo_indices} "
        f"(one per position, duplicates kept): {sparse_grad_bytes:,} bytes against {dense_grad_bytes:,} for the "
        f"dense gradient; coalesced (duplicates summed) it holds {coalesced._nnz()} rows in {coalesced_bytes:,} "
        f"bytes, and equals the dense gradient: {'yes' if sparse_equals_dense else 'no'}.",
        "Optimizers given the sparse gradient: "
        + ", ".join(f"{n} {'accepts' if ok else 'refuses'}" for n, ok in accepts.items()) + ".",
        f"Over 3 steps on different sentences, rows that moved although their gradient that step was zero: "
        f"Adam {moved_without_grad['Adam']}, AdamW {moved_without_grad['AdamW']}, SparseAdam "
        f"{moved_without_grad['SparseAdam']} — Adam's momentum keeps moving rows seen before, AdamW's weight "
        "decay moves every row, SparseAdam touches only the rows in the batch.",
        f"On a {opts.big_vocab:,} × {opts.big_dim} table with {opts.batch_tokens:,} tokens per step, backward + "
        f"step takes {timings['dense + Adam'] * 1000:.0f} ms dense with Adam and "
        f"{timings['sparse + SparseAdam'] * 1000:.0f} ms sparse with SparseAdam (median of {opts.reps}): "
        f"{speedup:.1f}× faster sparse.",
    ]
    tables = [
        Table("Tokens and their gradient rows", ["position", "token", "id", "grad norm at position",
                                                 "row grad norm"],
              [[p, tok, str(int(i)), round(float(looked_up.grad[p].norm()), 6), round(float(grad[i].norm()), 6)]
               for p, (tok, i) in enumerate(zip(tokens, ids))],
              note="A repeated token's row gradient is the sum of its positions' gradients, so its norm differs "
                   "from each position's."),
        Table("Optimizers given a sparse vs a dense gradient", ["optimizer", "sparse grad", "dense grad"],
              optimizer_rows),
        Table("Rows that move per step (real MiniLM table, lr 1e-3)",
              ["optimizer", "step", "rows with grad", "rows moved", "moved with zero grad"], movement_rows),
        Table(f"backward + step on a {opts.big_vocab:,} × {opts.big_dim} table",
              ["variant", "median ms", "gradient bytes"],
              [["dense + Adam", round(timings["dense + Adam"] * 1000, 1), opts.big_vocab * opts.big_dim * 4],
               ["sparse + SparseAdam", round(timings["sparse + SparseAdam"] * 1000, 1),
                opts.batch_tokens * (8 + opts.big_dim * 4)]],
              note="Times on this machine's CPU; noisy when it is busy."),
    ]
    metrics = {
        "vocab_size": vocab_size,
        "embedding_dim": dim,
        "tokens": n_tokens,
        "unique_tokens": n_unique,
        "nonzero_grad_rows": nonzero_rows,
        "grad_rows_are_token_ids": rows_are_ids,
        "repeat_grad_is_sum": repeat_is_sum,
        "repeat_grad_max_abs_diff": repeat_max_diff,
        "onehot_output_max_abs_diff": output_diff,
        "onehot_grad_max_abs_diff": onehot_grad_diff,
        "dense_grad_bytes": dense_grad_bytes,
        "sparse_grad_bytes": sparse_grad_bytes,
        "coalesced_grad_bytes": coalesced_bytes,
        "coalesced_nnz": int(coalesced._nnz()),
        "sparse_grad_equals_dense": sparse_equals_dense,
        **{f"{n.lower()}_accepts_sparse": ok for n, ok in accepts.items()},
        "adam_rows_moved_without_grad": sum(moved_without_grad["Adam"]),
        "adamw_rows_moved_without_grad": sum(moved_without_grad["AdamW"]),
        "sparseadam_rows_moved_without_grad": sum(moved_without_grad["SparseAdam"]),
        "dense_adam_step_ms": round(timings["dense + Adam"] * 1000, 3),
        "sparse_adam_step_ms": round(timings["sparse + SparseAdam"] * 1000, 3),
    }
    summary = (f"An embedding lookup is an index select, so its gradient lands only in the {n_unique} rows of the "
               f"{vocab_size:,}-row table that the text used, summed over repeats. A sparse gradient stores just "
               "those rows; only some optimizers accept it, and only SparseAdam leaves unused rows alone.")
    return Measured(summary=summary, findings=findings, metrics=metrics, tables=tables, model=BUNDLED_NAME)


PROBE = Probe(
    name="embedding-grad",
    question="embedding-grad",
    title="Gradient of an embedding lookup on MiniLM's real table: which rows, repeats, one-hot, sparse, optimizers",
    options=EmbeddingGradOptions,
    run=run,
    check=check,
)
