"""How is a word embedding calculated?

A word embedding is a row of a learned table: the tokenizer turns a word into an id, and the id
selects a row — the same as multiplying a one-hot vector by the table. The numbers in the table are
weights like any other, learned by backpropagation (they start as small random numbers). Measured
on the bundled all-MiniLM-L6-v2: the lookup = one-hot × table equality, how far training moved the
table from its random initialisation, the nearest neighbours of a few words in the static table,
and static vs contextual vectors — one row for "bank", but different vectors after the encoder reads
"river bank" or "bank loan". Last, position: the sinusoidal encoding of "Attention Is All You Need"
(computed) against MiniLM's learned position table (learned, as in BERT).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from n00bqa.errors import ProbeError
from n00bqa.probes.lib.models import BUNDLED_NAME
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict

DISTANCES = (1, 2, 4, 8, 16, 64, 256)
TOLERANCE = 1e-6  # float32 lookups and one-hot products agree to about this
SAME_SPREAD = 1e-5  # a cosine whose spread over positions is below this is "the same for every position"
SAME_COSINE = 1e-4  # vectors whose cosine is within this of 1 are "the same" vector


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    word: str = field(default="bank", metadata={
        "help": "A word that is one token in MiniLM's vocabulary; compared static vs in each --text sentence."})
    text: str = field(
        default="He sat on the bank of the river. | She asked the bank for a loan. | The bank approved her mortgage.",
        metadata={"help": "Two or more sentences containing --word, separated by ' | '."})
    neighbours: str = field(default="king,paris,coffee,happy", metadata={
        "help": "Comma-separated words whose nearest neighbours in the static table are listed (--word is added)."})
    top_k: int = field(default=5, metadata={"help": "How many nearest neighbours per word."})


def sentences_of(opts: Options) -> list[str]:
    return [s.strip() for s in opts.text.split("|") if s.strip()]


def check(opts: Options) -> None:
    if not opts.word.strip() or " " in opts.word.strip():
        raise ProbeError(f"--word {opts.word!r} must be one word, e.g. --word bank")
    if len(sentences_of(opts)) < 2:
        raise ProbeError(f"--text {opts.text!r} needs at least two sentences separated by ' | ', "
                         "e.g. --text 'a river bank | a bank loan'")
    if len(opts.text) > 4000:
        raise ProbeError(f"--text is {len(opts.text)} characters; keep it under 4000")
    check_ranges(opts, {"top_k": (1, 50)})
    words = [w.strip() for w in opts.neighbours.split(",") if w.strip()]
    if len(words) > 20:
        raise ProbeError(f"--neighbours lists {len(words)} words; give at most 20")


def single_token_id(tokenizer, word: str, option: str) -> int:
    pieces = tokenizer.tokenize(word)
    if len(pieces) != 1:
        raise ProbeError(f"{option} {word!r} is {len(pieces)} word pieces in MiniLM's vocabulary ({' '.join(pieces)}); "
                         "choose a word that is a single token")
    return tokenizer.convert_tokens_to_ids(pieces[0])


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class ByDistance:
    """cos(PE[p], PE[p + distance]) over every position p."""

    mean: float
    spread: float  # its standard deviation over p


@dataclass
class Numbers:
    """What word-embedding measures; every numeric field is a `--json` metric."""

    vocab_size: int
    embedding_dim: int
    word_id: int
    sentence_1_tokens: int
    onehot_lookup_max_abs_diff: float
    init_std: float
    init_row_norm_mean: float  # mean row length of a freshly initialised table
    trained_std: float
    trained_row_norm_min: float
    trained_row_norm_max: float
    trained_row_norm_mean: float
    static_contextual_cosine_min: float
    static_contextual_cosine: dict[str, float]  # "i" -> cosine of the static row with sentence i's last layer
    contextual_cosine_min: float
    contextual_cosine_max: float
    contextual_cosine: dict[str, float]  # "i_j" -> last-layer cosine between sentences i and j
    positions: dict[str, dict[int, ByDistance]]  # "sinusoidal", "learned" -> distance (DISTANCES) -> cosines
    position_rows: int  # rows of the learned position table
    position_params: int
    tolerance: float  # the verdicts' thresholds, shown beside them
    same_spread: float
    same_cosine: float
    contextual_cosine_gap: float = 0.0  # 1 - the closest pair's cosine: how far the nearest two are from "the same"
    distance_64_drop: dict[str, float] = field(default_factory=dict)  # "sinusoidal", "learned" -> cos at 1 - at 64
    # report-only (strings and lists are not metrics)
    word: str = ""
    sentences: list[str] = field(default_factory=list)
    static_cosines: list[float] = field(default_factory=list)  # static row vs each sentence's last layer
    farthest_pair: list[int] = field(default_factory=list)  # 1-based sentence numbers
    nearest_pair: list[int] = field(default_factory=list)
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # word -> (token, cosine), top k
    pair_cosines: dict[str, list[float]] = field(default_factory=dict)  # "1 vs 2" -> cosine by layer, 0 = embeddings
    n_hidden_states: int = 0


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    import torch
    import torch.nn.functional as F

    from n00bqa.probes.lib.models import load_model, load_tokenizer

    advance = ctx.task("Word embeddings in MiniLM", 5)
    tokenizer, model = load_tokenizer(None), load_model(None)
    table = model.embeddings.word_embeddings.weight.detach()  # (V, d)
    vocab_size, dim = table.shape
    word = opts.word.strip().lower()
    word_id = single_token_id(tokenizer, word, "--word")
    sentences = sentences_of(opts)

    # 1. A word's embedding is the row its id selects; as a matmul, one-hot (T, V) @ table (V, d).
    ids = torch.tensor(tokenizer(sentences[0])["input_ids"])  # (T,)
    looked_up = table[ids]  # (T, d)
    one_hot = F.one_hot(ids, vocab_size).to(table.dtype)  # (T, V)
    lookup_diff = float((one_hot @ table - looked_up).abs().max())  # (T, V) @ (V, d) -> (T, d)

    # 2. The numbers are learned: compare the trained table with a freshly initialised one.
    init_std = model.config.initializer_range  # BERT draws every table from N(0, 0.02²)
    trained_std = float(table.std())
    row_norms = table.norm(dim=1)  # (V,)
    generator = torch.Generator().manual_seed(ctx.seed)
    fresh = torch.randn(vocab_size, dim, generator=generator) * init_std  # what training started from
    fresh_norm = float(fresh.norm(dim=1).mean())
    advance(1)

    # 3. Nearest neighbours in the static table, by cosine similarity of rows.
    unit = F.normalize(table, dim=1)  # (V, d), each row length 1
    wanted = [w.strip().lower() for w in opts.neighbours.split(",") if w.strip()]
    wanted = list(dict.fromkeys(wanted + [word]))
    neighbours = {}
    for w in wanted:
        wid = single_token_id(tokenizer, w, "--neighbours word")
        cosines = unit @ unit[wid]  # (V, d) @ (d,) -> (V,)
        cosines[wid] = -2.0  # not its own neighbour
        top = torch.topk(cosines, opts.top_k)
        names = tokenizer.convert_ids_to_tokens(top.indices.tolist())
        neighbours[w] = list(zip(names, top.values.tolist()))
    advance(1)

    # 4. Static vs contextual: one row for the word, but one encoder output per sentence.
    contextual = []  # per sentence: (layers + 1, d) vectors of the word's first occurrence
    for sentence in sentences:
        encoded = tokenizer(sentence, return_tensors="pt")
        positions = (encoded["input_ids"][0] == word_id).nonzero().flatten()
        if len(positions) == 0:
            raise ProbeError(f"--text sentence {sentence!r} does not contain --word {word!r} as a token; "
                             "put the word in every sentence")
        with torch.no_grad():
            hidden = model(**encoded, output_hidden_states=True).hidden_states  # layers+1 × (1, T, d)
        contextual.append(torch.stack([h[0, positions[0]] for h in hidden]))  # (layers+1, d)
    static = table[word_id]  # (d,)
    last = [c[-1] for c in contextual]  # each (d,)
    pair_cosines, pair_cos = {}, {}
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            by_layer = [float(F.cosine_similarity(contextual[i][k], contextual[j][k], dim=0))
                        for k in range(contextual[i].shape[0])]
            pair_cos[(i, j)] = by_layer[-1]
            pair_cosines[f"{i + 1} vs {j + 1}"] = by_layer
    static_cos = [float(F.cosine_similarity(static, v, dim=0)) for v in last]
    advance(1)

    # 5. Position: the paper's sinusoids, PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(same).
    learned = model.embeddings.position_embeddings.weight.detach()  # (P, d)
    n_positions = learned.shape[0]
    position = torch.arange(n_positions, dtype=torch.float32).unsqueeze(1)  # (P, 1)
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, dtype=torch.float32) / dim)  # (d/2,)
    sinusoidal = torch.zeros(n_positions, dim)
    sinusoidal[:, 0::2] = torch.sin(position * frequency)  # (P, 1) * (d/2,) -> (P, d/2)
    sinusoidal[:, 1::2] = torch.cos(position * frequency)

    def by_distance(pe, k) -> ByDistance:
        """Mean and spread of cos(PE[p], PE[p+k]) over all positions p."""
        cos = F.cosine_similarity(pe[:-k], pe[k:], dim=1)  # (P-k,)
        return ByDistance(mean=float(cos.mean()), spread=float(cos.std()))

    positions = {name: {k: by_distance(pe, k) for k in DISTANCES}
                 for name, pe in (("sinusoidal", sinusoidal), ("learned", learned))}
    advance(1)

    i_far, j_far = min(pair_cos, key=pair_cos.get)
    i_near, j_near = max(pair_cos, key=pair_cos.get)
    return Numbers(
        vocab_size=vocab_size, embedding_dim=dim, word_id=word_id, sentence_1_tokens=len(ids),
        onehot_lookup_max_abs_diff=lookup_diff, init_std=init_std, init_row_norm_mean=fresh_norm,
        trained_std=trained_std, trained_row_norm_min=float(row_norms.min()),
        trained_row_norm_max=float(row_norms.max()), trained_row_norm_mean=float(row_norms.mean()),
        static_contextual_cosine_min=min(static_cos),
        static_contextual_cosine={str(i + 1): c for i, c in enumerate(static_cos)},
        contextual_cosine_min=pair_cos[(i_far, j_far)], contextual_cosine_max=pair_cos[(i_near, j_near)],
        contextual_cosine={f"{i + 1}_{j + 1}": c for (i, j), c in pair_cos.items()},
        positions=positions, position_rows=n_positions,
        position_params=learned.numel(), tolerance=TOLERANCE, same_spread=SAME_SPREAD, same_cosine=SAME_COSINE,
        contextual_cosine_gap=1 - pair_cos[(i_near, j_near)],
        distance_64_drop={name: by[1].mean - by[64].mean for name, by in positions.items()},
        word=word, sentences=sentences, static_cosines=static_cos,
        farthest_pair=[i_far + 1, j_far + 1], nearest_pair=[i_near + 1, j_near + 1],
        neighbours=neighbours, pair_cosines=pair_cosines, n_hidden_states=contextual[0].shape[0],
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    V, d = n.vocab_size, n.embedding_dim
    sin, learned = n.positions["sinusoidal"], n.positions["learned"]
    (i_far, j_far), (i_near, j_near) = n.farthest_pair, n.nearest_pair
    lookup_verdict = verdict(n.onehot_lookup_max_abs_diff, n.tolerance, "does NOT equal", "equals", "tolerance")
    # different vectors: even the closest pair's cosine is more than same_cosine below 1
    context_verdict = verdict(n.contextual_cosine_gap, n.same_cosine, f"{len(n.sentences)} different vectors",
                              f"the same vector in all {len(n.sentences)} sentences", "same_cosine")
    if len(n.pair_cosines) == 1:
        between = f"between the two sentences the last-layer cosine is {n.contextual_cosine_min:.3f}"
    elif f"{n.contextual_cosine_min:.3f}" == f"{n.contextual_cosine_max:.3f}":
        between = f"between sentences the last-layer cosine is {n.contextual_cosine_min:.3f} for every pair"
    else:
        between = (f"between sentences the last-layer cosine ranges from {n.contextual_cosine_min:.3f} "
                   f"({i_far} vs {j_far}) to {n.contextual_cosine_max:.3f} ({i_near} vs {j_near})")

    def spread_words(spread: float) -> str:
        return verdict(spread, n.same_spread, "varying with the position", "the same for every position", "same_spread")

    def trend(name: str) -> str:
        drop = n.distance_64_drop[name]  # cosine at distance 1 minus at distance 64
        return f"{verdict(drop, 0, 'falling', 'rising', 'distance-64 drop')} by {abs(drop):.4f}"

    findings = [
        f"'{n.word}' is token id {n.word_id}; its embedding is row {n.word_id} of the {V:,} × {d} table. "
        f"For the {n.sentence_1_tokens} tokens of sentence 1, one-hot ({n.sentence_1_tokens} × {V:,}) × table "
        f"{lookup_verdict} the lookup within {n.tolerance:g} (max abs difference {n.onehot_lookup_max_abs_diff:.2g}).",
        f"The rows are learned weights. A fresh table of MiniLM's config (BertModel's initialisation: normal, std "
        f"= initializer_range {n.init_std}) has mean row length {n.init_row_norm_mean:.3f}; MiniLM's trained table "
        f"has std {n.trained_std:.4f} and row lengths from {n.trained_row_norm_min:.3f} to "
        f"{n.trained_row_norm_max:.3f} (mean {n.trained_row_norm_mean:.3f}).",
        "Nearest neighbours by cosine in the static table (no context): "
        + "; ".join(f"{w} → {', '.join(name for name, _ in near[:3])}" for w, near in n.neighbours.items()) + ".",
        f"'{n.word}' has one static row, but {context_verdict} after the encoder (the closest pair is "
        f"{n.contextual_cosine_gap:.3g} below cosine 1; the same: within {n.same_cosine:g} of 1): cosine with the static row " + ", ".join(f"{c:.3f}" for c in n.static_cosines)
        + f" (sentences 1 to {len(n.sentences)}); {between}.",
        f"Position, sinusoidal (computed, no parameters): neighbouring positions have cosine "
        f"{sin[1].mean:.4f}, {spread_words(sin[1].spread)} (spread "
        f"{sin[1].spread:.2g}; the same: under {n.same_spread:g}), "
        f"{trend('sinusoidal')} to "
        f"{sin[64].mean:.4f} at distance 64. MiniLM's learned position table ({n.position_rows} "
        f"× {d}, {n.position_params:,} parameters): neighbours {learned[1].mean:.4f}, "
        f"{spread_words(learned[1].spread)} (spread {learned[1].spread:.3f}), "
        f"{trend('learned')} to {learned[64].mean:.4f} "
        "at distance 64.",
    ]
    tables = [
        Table.of(f"Nearest neighbours in the static table (top {opts.top_k}, cosine)", n.neighbours, {
                     "word": "key", "neighbours": lambda _, near: ", ".join(f"{name} {c:.2f}" for name, c in near)}),
        Table.of(f"'{n.word}' in context: cosine between sentences, by layer (0 = embedding output)", n.pair_cosines,
                 {"sentences": "key",
                  **{str(k): (lambda _, by_layer, k=k: round(by_layer[k], 3)) for k in range(n.n_hidden_states)}},
                 note=" · ".join(f"{i + 1}: {s}" for i, s in enumerate(n.sentences))),
        Table.of("Position encodings: cos(PE[p], PE[p + distance]) over all p", sin, {
                     "distance": "key", "sin. mean": lambda _, c: round(c.mean, 4),
                     "sin. spread": lambda _, c: round(c.spread, 6),
                     "learned mean": lambda k, _: round(learned[k].mean, 4),
                     "learned spread": lambda k, _: round(learned[k].spread, 4)},
                 note=f"spread: the standard deviation over positions p. Largest sinusoidal spread "
                      f"{max(round(c.spread, 6) for c in sin.values()):.2g}, smallest learned spread "
                      f"{min(round(c.spread, 4) for c in learned.values()):.2g}."),
    ]
    summary = (f"A word embedding is the row of a learned {V:,} × {d} table selected by the word's token "
               "id (a one-hot × matrix product, done as a lookup). That row is static; the encoder's output for the "
               "word changes with the sentence. Position is added from a second table (learned in MiniLM, as in BERT; "
               "computed sinusoids in the original Transformer).")
    return Report(summary=summary, findings=findings, tables=tables, model=BUNDLED_NAME)


# --- 5. The probe -------------------------------------------------------------------------------
# Metrics renamed when the two position encodings became dicts keyed by distance.
RENAMED_METRICS = {
    **{f"{name}_neighbour_cosine": f"positions.{name}.1.mean" for name in ("sinusoidal", "learned")},
    **{f"{name}_neighbour_cosine_spread": f"positions.{name}.1.spread" for name in ("sinusoidal", "learned")},
    **{f"{name}_distance_64_cosine": f"positions.{name}.64.mean" for name in ("sinusoidal", "learned")},
}

PROBE = Probe(
    name="word-embedding",
    question="word-embedding",
    title="Word embeddings in MiniLM: lookup = one-hot × table, neighbours, static vs contextual, positions",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # one real small model, a few sentences: one thread is enough
    predictions=(
        Prediction("What is the cosine between 'bank' in a river sentence and in a loan sentence, after MiniLM's "
                   "encoder?", "contextual_cosine.1_2", ""),
        Prediction("What is the cosine between neighbouring positions of the sinusoidal encoding at width 384?",
                   "positions.sinusoidal.1.mean", ""),
    ),
    renamed_metrics=RENAMED_METRICS,
)
