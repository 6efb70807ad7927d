"""Chunking keeps citations right (lines, sections) and fits every chunk in the model's window."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from n00bqa.retrieval.chunking import (
    MAX_TOKENS,
    _count_many,
    chunk_markdown,
    chunk_python,
    chunk_text,
    count_tokens,
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

Intro paragraph.

## Attention

Scaled dot-product attention divides by sqrt(d_k).

```python
# not a heading
x = 1
```

### Heads

Eight heads of 64 dimensions.

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
    assert "# not a heading" in attention.text and attention.start_line == 8
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
    assert (small_chunk.start_line, small_chunk.end_line) == (small.lineno, small.end_lineno)
    sections = {c.section for c in chunks}
    assert {"(module)", "Big", "Big.method_0", "Big.method_5", "huge"} <= sections
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
