"""Chunking keeps citations right (lines, sections) and fits every chunk in the model's window."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from n00bqa.retrieval.chunking import (
    MAX_TOKENS,
    MIN_TOKENS,
    Chunk,
    _count_many,
    chunk_markdown,
    chunk_python,
    chunk_text,
    count_tokens,
    merge_tiny,
)

TORCH_NN = Path(importlib.util.find_spec("torch").submodule_search_locations[0]) / "nn"


def _assert_lines_match(chunks, text):
    lines = text.splitlines()
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line <= len(lines)
        assert c.text == "\n".join(lines[c.start_line - 1:c.end_line]) or c.start_line == c.end_line
        assert c.lines == f"{c.start_line}-{c.end_line}"


def test_token_counts_of_lines_add_up_to_the_whole():
    # the packing relies on it: BERT pre-tokenizes on whitespace, so counts of lines add up
    lines = (TORCH_NN / "modules" / "sparse.py").read_text().splitlines()[:120]
    assert count_tokens("\n".join(lines)) == sum(_count_many(lines)) + 2


def test_count_tokens_matches_the_transformers_tokenizer(minilm):
    tokenizer, _ = minilm
    text = "Why is the embedding gradient sparse? torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=0)"
    assert count_tokens(text) == len(tokenizer(text)["input_ids"])


MD = """---
id: demo
---
# Demo note

Intro paragraph: this note walks through attention, its heads and how the model is trained, with the
figures the paper reports for the base model.

## Attention

Scaled dot-product attention divides the scores by sqrt(d_k), so that the softmax does not saturate when
the key vectors are long; the code below is an example.

```python
# not a heading
x = 1
```

### Heads

Eight heads of 64 dimensions each: the model width of 512 is split evenly across the heads, and their
outputs are concatenated and projected back to 512.

## Training
""" + "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(12)) + "\n"


def test_markdown_sections_and_lines():
    chunks = chunk_markdown("demo", "corpus/notes/demo.md", "Demo", MD)
    _assert_lines_match(chunks, MD)
    sections = [c.section for c in chunks]
    assert sections[0] == "Demo note"
    assert "Attention" in sections  # the single H1 names the document, not each section
    assert "Attention > Heads" in sections
    assert not any("not a heading" in s for s in sections)
    attention = next(c for c in chunks if c.section == "Attention")
    assert "# not a heading" in attention.text and attention.start_line == 9
    training = [c for c in chunks if c.section == "Training"]
    assert len(training) > 1  # 12 paragraphs of ~70 tokens do not fit one chunk
    assert all(count_tokens(c.embed_text) <= MAX_TOKENS for c in chunks)
    assert not any("id: demo" in c.text for c in chunks)  # front matter skipped


PY = '''"""Module docstring."""
import os

CONSTANT = 3


def small(x):
    """Return x."""
    return x


class Big:
    """A class too long for one chunk."""

    kind = "big"

''' + "\n".join(
    f"    def method_{i}(self, value):\n        \"\"\"Method {i} doubles the value.\"\"\"\n"
    + "\n".join(f"        value = value * 2 + {j}  # step {j} of method {i}" for j in range(12))
    + "\n        return value\n" for i in range(6)
) + '''

@decorator
def huge():
''' + "\n".join(f"    total_{j} = compute_something_long(argument_{j}, other_argument_{j})" for j in range(120)) + "\n"


def test_python_along_classes_and_functions():
    chunks = chunk_python("demo", "pkg/demo.py", "demo", PY, label="pkg/demo.py")
    _assert_lines_match(chunks, PY)
    tree = ast.parse(PY)
    small = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "small")
    small_chunk = next(c for c in chunks if c.section == "small")
    # the module docstring, import and constant (too few tokens alone) joined the function they touch
    assert (small_chunk.start_line, small_chunk.end_line) == (1, small.end_lineno)
    # the class line, docstring and attribute (too few alone) joined the first method, under the class
    big = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    big_chunk = next(c for c in chunks if c.section == "Big")
    assert (big_chunk.start_line, big_chunk.end_line) == (big.lineno, big.body[2].end_lineno)
    sections = {c.section for c in chunks}
    assert {"small", "Big", "Big.method_1", "Big.method_5", "huge"} <= sections
    huge = [c for c in chunks if c.section == "huge"]
    decorated = next(n for n in tree.body if getattr(n, "name", "") == "huge")
    assert len(huge) > 1 and huge[0].start_line == decorated.decorator_list[0].lineno  # decorator kept
    assert huge[-1].end_line == decorated.end_lineno
    assert all(count_tokens(c.embed_text) <= MAX_TOKENS for c in chunks)
    assert all(c.embed_text.startswith("pkg/demo.py | ") for c in chunks)


def test_a_single_enormous_line_is_cut_to_fit():
    text = "x = [" + ", ".join(f"value_{i}" for i in range(800)) + "]\n"
    chunks = chunk_python("demo", "pkg/demo.py", "demo", text)
    assert len(chunks) > 1
    assert all(count_tokens(c.embed_text) <= MAX_TOKENS for c in chunks)
    assert all(c.start_line == 1 for c in chunks)


@pytest.mark.parametrize("relative", ["modules/sparse.py", "modules/activation.py"])
def test_real_library_sources_fit_the_window(relative):
    text = (TORCH_NN / relative).read_text()
    chunks = chunk_python("torch-x", f"torch/nn/{relative}", "torch", text, label=f"torch/nn/{relative}")
    _assert_lines_match(chunks, text)
    counts = [count_tokens(c.embed_text) for c in chunks]
    assert max(counts) <= MAX_TOKENS
    assert any(c.section == "Embedding" for c in chunks) or relative != "modules/sparse.py"
    # the whole file is covered: every non-blank line is in some chunk
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    lines = text.splitlines()
    assert all(i + 1 in covered for i, line in enumerate(lines) if line.strip())


def test_plain_text_packs_paragraphs():
    text = "\n\n".join("sentence " * 50 for _ in range(10))
    chunks = chunk_text("t", "corpus/added/t.txt", "T", text)
    _assert_lines_match(chunks, text)
    assert len(chunks) >= 3 and all(count_tokens(c.embed_text) <= MAX_TOKENS for c in chunks)


TRANSFORMERS = Path(importlib.util.find_spec("transformers").submodule_search_locations[0])


@pytest.mark.parametrize("path", [TRANSFORMERS / "models" / "auto" / "modeling_auto.py",
                                  TRANSFORMERS / "models" / "deberta_v2" / "modeling_deberta_v2.py",
                                  TORCH_NN / "modules" / "transformer.py"])
def test_tiny_pieces_join_a_neighbour_unless_none_has_room(path):
    text = path.read_text()
    label = path.name
    chunks = chunk_python("x", label, "x", text, label=label)
    _assert_lines_match(chunks, text)
    lines = text.splitlines()
    covered = set()
    for c in chunks:
        covered.update(range(c.start_line, c.end_line + 1))
    assert all(i + 1 in covered for i, line in enumerate(lines) if line.strip())
    assert max(count_tokens(c.embed_text) for c in chunks) <= MAX_TOKENS
    sizes = _count_many([c.text for c in chunks])
    for i, (c, size) in enumerate(zip(chunks, sizes)):
        if size >= MIN_TOKENS:
            continue
        # a piece left tiny: no neighbour could take it whole (not adjacent, or the merge overflows)
        for j in (i - 1, i + 1):
            if not 0 <= j < len(chunks):
                continue
            a, b = sorted((c, chunks[j]), key=lambda x: x.start_line)
            joined = "\n".join(lines[a.start_line - 1:b.end_line])
            if b.start_line <= a.end_line or a.text != "\n".join(lines[a.start_line - 1:a.end_line]):
                continue
            longest = max((a.section, b.section), key=lambda s: count_tokens(s))
            assert count_tokens(f"{label} | {longest}\n{joined}") > MAX_TOKENS, (c.section, c.lines)
    # the brief's examples of noise: a lone "# Copied from" line, a class of one attribute
    assert not any(c.text.strip().startswith("# Copied from") and "\n" not in c.text.strip() for c in chunks)
    if path.name == "modeling_auto.py":
        home = next(c for c in chunks if "class AutoModel(_BaseAutoModelClass):" in c.text.splitlines())
        assert _count_many([home.text])[0] >= MIN_TOKENS


def test_merge_tiny_joins_the_same_section_first_and_keeps_lines():
    lines = ["def f(x):", "    y = x + 1", "", "    return y", "", "", "def g(x):"] + [
        f"    z_{i} = some_function_name(x, argument_{i})" for i in range(6)]
    f = Chunk("d", "p.py", "t", "f", 1, 2, "\n".join(lines[0:2]), "")
    f_tail = Chunk("d", "p.py", "t", "f", 4, 4, lines[3], "")
    g = Chunk("d", "p.py", "t", "g", 7, 13, "\n".join(lines[6:13]), "")
    merged = merge_tiny([f, f_tail, g], lines, "p.py")
    # "def f" + its tail: both tiny, same section, so they join; then still tiny, the next def takes it
    assert [(c.section, c.start_line, c.end_line) for c in merged] == [("g", 1, 13)]
    assert merged[0].text == "\n".join(lines[0:13])
    assert merged[0].embed_text == "p.py | g\n" + merged[0].text
    # with a small threshold only nothing merges, and a non-adjacent piece is never merged
    assert merge_tiny([f, f_tail, g], lines, "p.py", min_tokens=1) == [f, f_tail, g]
    lone = Chunk("d", "p.py", "t", "f", 4, 4, "    return", "")  # not the whole line 4
    assert len(merge_tiny([f, lone], lines, "p.py")) == 2
