"""Cut corpus items into passages that the embedding model reads whole.

all-MiniLM-L6-v2 reads at most 256 word pieces ([CLS] and [SEP] included) and silently drops
the rest, so every chunk is measured with the model's own tokenizer (`tokenizers`, no torch)
and split until it fits. Each chunk keeps where it came from: the item, a section path
(Markdown headings, or `Class.method` for Python) and the 1-based line range, for citation.

Python sources are cut along their classes and functions with `ast`; a class or function too
long for one chunk is split (class header, then each method; a long body by whole lines).
Markdown is cut along its headings, then packed paragraph by paragraph.

A piece too small to mean anything on its own (under MIN_TOKENS word pieces: a lone
`# Copied from ...` line, a class line whose methods went to their own chunks, a trailing
`return output.metrics`) is merged into a neighbouring chunk of the same item, so it neither
fills a result slot nor loses its lines from the citations; see `merge_tiny`.

Bump CHUNKER_VERSION whenever a change here would cut the same text differently: the index
manifest records it and refuses to mix chunks from two versions.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

CHUNKER_VERSION = 6

# The model's window, [CLS] and [SEP] included (sentence_bert_config.json: max_seq_length 256).
MAX_TOKENS = 256
# Prose is packed up to this many tokens: a passage a learner can read at a glance that still
# leaves room for the header line (title and section) that is embedded with it.
TARGET_TOKENS = 200
# A header longer than this is cut, so the header never eats the passage's room.
MAX_HEADER_TOKENS = 40
# A chunk whose text has fewer word pieces than this is merged into a neighbour (when one fits).
MIN_TOKENS = 24


@dataclass
class Chunk:
    """One passage: the text as it stands in the source, and where it stands.

    `embed_text` is what the model and BM25 read: a short header naming the item and the
    section, then the text; it is what must fit in MAX_TOKENS.
    """

    item_id: str
    source: str
    title: str
    section: str
    start_line: int
    end_line: int
    text: str
    embed_text: str = ""

    @property
    def lines(self) -> str:
        return f"{self.start_line}-{self.end_line}"

    def to_record(self) -> dict:
        return {
            "item_id": self.item_id, "source": self.source, "title": self.title, "section": self.section,
            "start_line": self.start_line, "end_line": self.end_line, "text": self.text,
            "embed_text": self.embed_text,
        }

    @classmethod
    def from_record(cls, record: dict) -> "Chunk":
        return cls(**record)


# --- measuring -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    from n00bqa.study import bundled_model_path

    tok = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    # tokenizer.json ships with truncation at 128 and fixed padding: both would hide the true length.
    tok.no_truncation()
    tok.no_padding()
    return tok


def count_tokens(text: str) -> int:
    """Word pieces the model sees for `text`, [CLS] and [SEP] included."""
    return len(_tokenizer().encode(text).ids)


def _count_many(texts: list[str]) -> list[int]:
    """Word pieces of each text *without* the two special tokens.

    BERT's pre-tokenizer splits on whitespace and punctuation first, so the counts of lines add
    up to the count of the lines joined by newlines; the tests check this against count_tokens.
    """
    if not texts:
        return []
    return [len(e.ids) - 2 for e in _tokenizer().encode_batch(texts)]


def _header(title: str, section: str) -> str:
    header = f"{title} | {section}" if section else title
    if count_tokens(header) - 2 > MAX_HEADER_TOKENS:
        enc = _tokenizer().encode(header)
        # offsets of the last kept piece (index MAX_HEADER_TOKENS, counting [CLS] at 0)
        header = header[: enc.offsets[MAX_HEADER_TOKENS][1]]
    return header


# --- packing whole lines into chunks ---------------------------------------------------------


def _split_long_line(line: str, budget: int) -> list[str]:
    """A single line longer than `budget` pieces, cut at piece boundaries."""
    enc = _tokenizer().encode(line, add_special_tokens=False)
    budget = max(8, budget - 8)  # a cut inside a word may re-tokenize into a few more pieces
    parts, start_char, n = [], 0, 0
    for i, (_, end) in enumerate(enc.offsets):
        n += 1
        if n == budget or i == len(enc.offsets) - 1:
            parts.append(line[start_char:end])
            start_char, n = end, 0
    tail = line[start_char:]
    if tail.strip():
        parts[-1] = parts[-1] + tail if parts else tail
    return [p for p in parts if p.strip()] or [line[:1000]]


def pack_lines(lines: list[str], first_line: int, budget: int, target: int | None = None) -> list[tuple[int, int, str]]:
    """Greedily pack consecutive lines into pieces of at most `budget` tokens.

    Args:
        lines: the source lines (no newline at the end).
        first_line: the 1-based line number of lines[0].
        budget: hard limit on word pieces per piece (specials not counted).
        target: start a new piece at a blank line once this many tokens are reached
            (prose reads better cut between paragraphs).

    Returns:
        (start_line, end_line, text) for each piece; blank lines at either end are dropped.
    """
    counts = _count_many(lines)
    pieces: list[tuple[int, int, str]] = []
    cur: list[str] = []
    cur_start = first_line
    cur_tokens = 0

    def flush():
        nonlocal cur, cur_tokens
        # trim blank lines at both ends, keeping line numbers right
        start, block = cur_start, cur
        while block and not block[0].strip():
            block, start = block[1:], start + 1
        while block and not block[-1].strip():
            block = block[:-1]
        if block:
            pieces.append((start, start + len(block) - 1, "\n".join(block)))
        cur, cur_tokens = [], 0

    for offset, (line, n) in enumerate(zip(lines, counts)):
        lineno = first_line + offset
        if n > budget:
            flush()
            for part in _split_long_line(line, budget):
                pieces.append((lineno, lineno, part))
            cur_start = lineno + 1
            continue
        if cur_tokens + n > budget or (target and cur_tokens >= target and not line.strip()):
            flush()
            cur_start = lineno
        if not cur:
            cur_start = lineno
        cur.append(line)
        cur_tokens += n
    flush()
    return pieces


def _make_chunks(item_id, source, title, section, lines, first_line, target=None, label=None) -> list[Chunk]:
    header = _header(label or title, section)
    budget = MAX_TOKENS - 2 - (count_tokens(header) - 2) - 1  # -1: the newline after the header adds none, keep a margin
    chunks = []
    for start, end, text in pack_lines(lines, first_line, budget, target):
        chunk = Chunk(item_id, source, title, section, start, end, text, f"{header}\n{text}")
        if count_tokens(chunk.embed_text) > MAX_TOKENS:  # never expected; keeps the promise if it happens
            sub = text.splitlines()
            if len(sub) > 1:  # halve it: each half is shorter, so this ends
                half = len(sub) // 2
                chunks.extend(_make_chunks(item_id, source, title, section, sub[:half], start, target, label))
                chunks.extend(_make_chunks(item_id, source, title, section, sub[half:], start + half, target, label))
                continue
            chunk.text = _split_long_line(text, budget // 2)[0]
            chunk.embed_text = f"{header}\n{chunk.text}"
        chunks.append(chunk)
    return chunks


# --- merging pieces too small to stand alone -------------------------------------------------

_LEAD_IN = re.compile(r"^\s*(#|@|class\s|def\s|async\s+def\s)")  # a comment, heading, decorator or signature


def _is_ancestor(parent: str, child: str) -> bool:
    """`Big` is an ancestor of `Big.method`; `Training` of `Training > Details`."""
    return child.startswith(parent + ".") or child.startswith(parent + " > ")


def _merged_section(a: Chunk, b: Chunk, size_a: int, size_b: int) -> str:
    if a.section == b.section:
        return a.section
    if "(module)" in (a.section, b.section):  # module-level glue belongs to the definition it touches
        return b.section if a.section == "(module)" else a.section
    if _is_ancestor(a.section, b.section):  # class line + first method: the passage starts the class
        return a.section
    if _is_ancestor(b.section, a.section):
        return b.section
    return a.section if size_a >= size_b else b.section  # what most of the passage is


def merge_tiny(chunks: list[Chunk], lines: list[str], label: str, min_tokens: int = MIN_TOKENS) -> list[Chunk]:
    """Merge every chunk of fewer than `min_tokens` word pieces into a neighbour of the same item.

    The neighbour in the same section is preferred; then a parent/child section (a class line
    joins its first method); then the one the piece leads into or trails from: a comment,
    heading, decorator or signature joins the next chunk, anything else the previous one. A
    merge happens only when the two chunks are whole, adjacent lines of `lines` (nothing but
    blank lines between them) and the merged passage, with its header, still fits MAX_TOKENS;
    otherwise the piece stays as it is. The merged text is the source lines from the first
    chunk's start to the second's end, so line ranges and citations stay exact.

    Args:
        chunks: the item's chunks, in line order.
        lines: the item's source lines (index 0 is line 1).
        label: the name the embedded header starts with (the title, or a source path).
        min_tokens: the size below which a chunk is merged.
    """
    chunks = list(chunks)

    def whole(c: Chunk) -> bool:
        return c.text == "\n".join(lines[c.start_line - 1:c.end_line])

    def try_merge(i: int, j: int) -> bool:
        a, b = chunks[min(i, j)], chunks[max(i, j)]
        if not (whole(a) and whole(b) and b.start_line > a.end_line):
            return False
        if any(line.strip() for line in lines[a.end_line:b.start_line - 1]):
            return False
        size_a, size_b = _count_many([a.text, b.text])
        section = _merged_section(a, b, size_a, size_b)
        text = "\n".join(lines[a.start_line - 1:b.end_line])
        embed_text = f"{_header(label, section)}\n{text}"
        if count_tokens(embed_text) > MAX_TOKENS:
            return False
        chunks[min(i, j):max(i, j) + 1] = [Chunk(a.item_id, a.source, a.title, section, a.start_line, b.end_line,
                                                 text, embed_text)]
        return True

    i = 0
    while i < len(chunks):
        tiny = chunks[i]
        if _count_many([tiny.text])[0] >= min_tokens:
            i += 1
            continue
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(chunks)]
        lead_in = bool(_LEAD_IN.match(tiny.text))

        def preference(j: int) -> tuple:
            other = chunks[j].section
            related = _is_ancestor(tiny.section, other) or _is_ancestor(other, tiny.section)
            leads_there = (j > i) == lead_in
            return (other != tiny.section, not related, not leads_there)

        merged_at = next((min(i, j) for j in sorted(neighbours, key=preference) if try_merge(i, j)), None)
        if merged_at is None:
            i += 1  # no neighbour has room: the piece stays
        else:
            i = merged_at  # the merged chunk may itself still be tiny
    return chunks


# --- Markdown and plain text -----------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def chunk_markdown(item_id: str, source: str, title: str, text: str) -> list[Chunk]:
    """Cut Markdown at its headings; pack each section's paragraphs into chunks.

    The section is the heading path, e.g. "Training > Weight tying". Front matter (a leading
    `---` block) is skipped; `#` lines inside code fences are not headings.
    """
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        for i in range(1, len(lines)):
            if lines[i].strip() in ("---", "..."):
                start = i + 1
                break
    sections: list[tuple[list, int, list[str]]] = []  # (heading path, first line number, lines)
    path: list[tuple[int, str]] = []
    cur_lines: list[str] = []
    cur_first = start + 1
    in_fence = False
    for i in range(start, len(lines)):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            if any(s.strip() for s in cur_lines):
                sections.append((list(path), cur_first, cur_lines))
            level = len(m.group(1))
            path = [(lv, h) for lv, h in path if lv < level] + [(level, m.group(2))]
            cur_lines, cur_first = [line], i + 1
        else:
            cur_lines.append(line)
    if any(s.strip() for s in cur_lines):
        sections.append((list(path), cur_first, cur_lines))

    # A note's single `# Title` names the whole document: it is left out of the section paths
    # ("Weight tying", not "nanoGPT > Weight tying"), so headers stay short; it names the intro.
    h1 = {h for p, _, _ in sections for lv, h in p if lv == 1}
    chunks: list[Chunk] = []
    for path_, first, sec_lines in sections:
        kept = [h for lv, h in path_ if not (lv == 1 and len(h1) == 1)]
        section = " > ".join(kept) if kept else " > ".join(h for _, h in path_)
        chunks.extend(_make_chunks(item_id, source, title, section, sec_lines, first, TARGET_TOKENS))
    return merge_tiny(chunks, lines, title)


def chunk_text(item_id: str, source: str, title: str, text: str, section: str = "") -> list[Chunk]:
    """Plain text: paragraphs packed into chunks, one section name for all."""
    lines = text.splitlines()
    return merge_tiny(_make_chunks(item_id, source, title, section, lines, 1, TARGET_TOKENS), lines, title)


# --- Python, along classes and functions ------------------------------------------------------


def _node_start(node: ast.AST, lines: list[str]) -> int:
    """The first line of a definition: its decorators, and the comment lines right above them
    (e.g. `# Copied from transformers.models...`), which say something about it."""
    decorators = getattr(node, "decorator_list", None) or []
    start = min([node.lineno] + [d.lineno for d in decorators])
    while start > 1 and lines[start - 2].lstrip().startswith("#"):
        start -= 1
    return start


def _fits(lines: list[str], header_tokens: int) -> bool:
    return sum(_count_many(lines)) + header_tokens + 3 <= MAX_TOKENS


def chunk_python(item_id: str, source: str, title: str, text: str, label: str | None = None) -> list[Chunk]:
    """Cut a Python module along its top-level classes and functions.

    Module-level statements between definitions (imports, constants) are packed together under
    the section "(module)". Comment lines right above a definition belong to it. A class that does not fit is cut into its header (signature,
    docstring, class attributes) and its methods, each `Class.method`; a function that still
    does not fit is cut by whole lines. The embedded header names `label` (default: the
    title; the index passes the short source path) and the `Class.method` section.
    """
    lines = text.splitlines()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return merge_tiny(_make_chunks(item_id, source, title, "(module)", lines, 1, TARGET_TOKENS, label), lines,
                          label or title)
    chunks: list[Chunk] = []

    def emit(section: str, first: int, last: int):
        # first/last are 1-based, inclusive
        if last < first:
            return
        chunks.extend(_make_chunks(item_id, source, title, section, lines[first - 1:last], first, label=label))

    def visit_def(node, prefix: str):
        name = f"{prefix}{node.name}"
        first, last = _node_start(node, lines), node.end_lineno
        header_tokens = count_tokens(_header(label or title, name)) - 2
        if _fits(lines[first - 1:last], header_tokens) or not isinstance(node, ast.ClassDef):
            emit(name, first, last)  # a long function is cut by lines inside _make_chunks
            return
        # a class too long for one chunk: its header, then each member
        cursor = first
        for child in node.body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                emit(name, cursor, _node_start(child, lines) - 1)
                visit_def(child, name + ".")
                cursor = child.end_lineno + 1
        emit(name, cursor, last)

    cursor = 1
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            emit("(module)", cursor, _node_start(node, lines) - 1)
            visit_def(node, "")
            cursor = node.end_lineno + 1
    emit("(module)", cursor, len(lines))
    return merge_tiny(chunks, lines, label or title)
