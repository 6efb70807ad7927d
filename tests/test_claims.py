"""Living numbers (issue 24): the numbers the built-in notes and answers quote about the installed
libraries, and the probe measurements they quote, hold for the installed versions and the probes'
code now, and the check fails when one is changed. A `metric PROBE KEY` claim reads the session's
one default run of the probe (tests/support/runs.py), shared with the probe's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from n00bqa.claims import check_claims, evaluate, load_claims
from n00bqa.study import JOURNEY
from tests.support.runs import default_metric


def test_every_claim_of_the_builtin_notes_holds_for_the_installed_libraries():
    claims = load_claims(JOURNEY)
    assert len(claims) >= 140
    assert sum(any(s.startswith("metric ") for s in c.sources) for c in claims) >= 70
    assert len({c.file for c in claims}) >= 40  # most answers and notes quote something that can drift
    assert check_claims(JOURNEY, default_metric) == []


def builtin_copy(tmp_path: Path) -> Path:
    """A copy of the built-in study's questions and corpus, to edit."""
    root = tmp_path / "root"
    shutil.copytree(JOURNEY / "corpus", root / "corpus")
    shutil.copytree(JOURNEY / "questions", root / "questions")
    return root


def test_a_changed_number_in_a_note_fails_with_the_sentence_to_update(tmp_path: Path):
    root = builtin_copy(tmp_path)
    note = root / "corpus" / "notes" / "hf-trainer.md"
    lines = evaluate("lines transformers trainer.py")
    note.write_text(note.read_text().replace(f"{lines:,} lines", f"{lines + 7:,} lines"))
    claims = root / "corpus" / "claims.yaml"
    claims.write_text(claims.read_text().replace(f"({lines:,} lines", f"({lines + 7:,} lines"))
    problems = check_claims(root, default_metric)
    assert len(problems) == 1
    assert f"says {lines + 7:,} but `lines transformers trainer.py` gives {lines:,} now" in problems[0]
    assert problems[0].startswith("corpus/notes/hf-trainer.md:")


def test_a_number_changed_in_the_note_alone_is_checked_as_the_note_now_reads_it(tmp_path: Path):
    root = builtin_copy(tmp_path)
    note = root / "corpus" / "notes" / "hf-trainer.md"
    lines = evaluate("lines transformers trainer.py")
    text = note.read_text()
    note.write_text(text.replace(f"{lines:,} lines", f"{lines + 1:,} lines"))
    [problem] = check_claims(root, default_metric)
    assert problem.startswith("corpus/notes/hf-trainer.md:")
    assert f"says {lines + 1:,} but `lines transformers trainer.py` gives {lines:,} now" in problem
    # the note updated to the truth but the quote in claims.yaml left behind: the quote is what to update
    claims = root / "corpus" / "claims.yaml"
    claims.write_text(claims.read_text().replace(f"({lines:,} lines", f"({lines - 1:,} lines"))
    note.write_text(text)
    [problem] = check_claims(root, default_metric)
    assert "which holds" in problem and f"still quotes '({lines - 1:,} lines" in problem


def test_a_quote_edited_away_from_the_file_is_named(tmp_path: Path):
    root = builtin_copy(tmp_path)
    note = root / "corpus" / "notes" / "hf-transformers.md"
    note.write_text(note.read_text().replace("The installed version here is", "We installed"))
    assert any("is no longer in the file" in p for p in check_claims(root, default_metric))


def test_a_changed_probe_measurement_in_an_answer_fails_with_the_sentence_to_update(tmp_path: Path):
    root = builtin_copy(tmp_path)
    for rel in ("questions/zero-fsdp.md", "corpus/claims.yaml"):
        path = root / rel
        path.write_text(path.read_text().replace("31.4 GB at stage 1", "31.9 GB at stage 1"))
    problems = check_claims(root, default_metric)
    assert len(problems) == 1
    assert "says 31.9 but `metric zero-memory stages.1.gb` gives 31.4062 now" in problems[0]
    assert problems[0].startswith("questions/zero-fsdp.md:")


def test_a_label_is_never_checked_and_a_metric_needs_a_run():
    import pytest

    from n00bqa.claims import ClaimError

    assert evaluate("label") is None
    with pytest.raises(ClaimError, match="needs a run of the probe"):
        evaluate("metric zero-memory gpus")


def test_gguf_sources_count_a_written_file(tmp_path: Path):
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / "tiny.gguf"
    writer = GGUFWriter(str(path), "llama")
    writer.add_uint32("llama.vocab_size", 11)
    writer.add_tensor("token_embd.weight", np.zeros((3, 4), dtype=np.float32))
    writer.add_tensor("output_norm.weight", np.zeros((5,), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert evaluate(f"gguf_params {path}") == 3 * 4 + 5
    assert evaluate(f"gguf_field llama.vocab_size {path}") == 11


def test_mc_head_params_is_the_pooler_and_classifier_by_hand():
    for hidden in (32, 768):
        # DeBERTa-v2 keeps its pooler in the task class: Linear(h, h) + Linear(h, 1); BERT's pooler is in
        # BertModel, so BertForMultipleChoice adds only Linear(h, 1).
        assert evaluate(f"mc_head_params deberta-v2 {hidden}") == hidden * hidden + hidden + hidden + 1
        assert evaluate(f"mc_head_params bert {hidden}") == hidden + 1


def test_tokenizer_sources_match_the_bundled_files():
    import json

    from n00bqa.probes.lib.models import resolve_model_dir

    limit = json.loads((resolve_model_dir(None) / "tokenizer_config.json").read_text())["model_max_length"]
    assert evaluate("tokenizer_attr model_max_length") == limit
    assert evaluate("truncated_ids 20") == 20 + 2  # each "word" is one id, plus [CLS] and [SEP]
    assert evaluate(f"truncated_ids {limit + 88}") == limit


def test_a_source_that_cannot_be_computed_here_is_one_line_naming_it(tmp_path: Path):
    (tmp_path / "corpus" / "notes").mkdir(parents=True)
    (tmp_path / "corpus" / "notes" / "n.md").write_text("The model has 42 parameters.\n")
    (tmp_path / "corpus" / "claims.yaml").write_text(
        'claims:\n  - file: corpus/notes/n.md\n    quote: "has 42 parameters"\n'
        f'    sources: ["gguf_params {tmp_path / "missing.gguf"}"]\n')
    problems = check_claims(tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("corpus/notes/n.md: 'has 42 parameters': `gguf_params ")
    assert "cannot be computed here" in problems[0]


def test_published_config_matches_the_library_defaults_that_describe_the_same_models():
    from transformers import GPT2Config, LlamaConfig

    # transformers' GPT2Config() is GPT-2 small and LlamaConfig() Llama-2-7B: an outside copy of each.
    gpt2, llama = GPT2Config(), LlamaConfig()
    for field in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
        assert evaluate(f"published_config gpt2 {field}") == getattr(gpt2, field)
    for field in ("num_hidden_layers", "num_attention_heads", "hidden_size", "intermediate_size", "vocab_size"):
        assert evaluate(f"published_config llama-2-7b {field}") == getattr(llama, field)
    assert evaluate("published_config llama-2-7b rope_parameters.rope_theta") == 10000.0
