"""grad-rows: rows with gradient against the ids of the batch and the libraries' own relative
buckets; the sparse/dense split against closed forms of each model's tables."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.study import bundled_model_path
from tests.support.probes import assert_output_whole, finding_with
from tests.support.runs import default_run

MODELS = ("gpt2", "bert-base-uncased", "t5-small", "llama-2-7b", "deberta-v3-base", "all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def default_result():
    probe = find_probe(None, "grad-rows")
    return default_run(probe.name)


def test_default_output_is_whole(default_result):
    assert_output_whole(default_result)


def _rows(result):
    """(model, table short name) -> [twin rows, rows at T=8, full T or None, rows at full T or None]."""
    return {(name, t.short): [t.twin_rows, t.grad_rows, m.grad_full_seq_len if t.grad_rows_full is not None else None,
                              t.grad_rows_full]
            for name, m in result.numbers.items() for t in m.tables}


def _batch_ids(vocab: int, encoder_decoder: bool = False):
    """The gradient pass's short batch, drawn as the probe draws it (seed 0): ids 1..V-1, 2 × 8."""
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, vocab, (2, 8), generator=generator)
    dec = torch.randint(1, vocab, (2, 8), generator=generator) if encoder_decoder else None
    return ids, dec


def test_sparse_and_dense_gradient_params_add_up_to_the_total(default_result):
    m = default_result.metrics
    for name in MODELS:
        assert m[f"{name}.sparse_grad_params"] + m[f"{name}.dense_grad_params"] == m[f"{name}.total"]
        assert m[f"{name}.sparse_grad_fraction"] == pytest.approx(m[f"{name}.sparse_grad_params"] / m[f"{name}.total"])
    # Closed forms: the row-sparse tables are the untied token tables, position, token-type and relative tables;
    # the tied token tables (gpt2's wte, t5's shared) are dense.
    assert m["gpt2.sparse_grad_params"] == 1024 * 768  # wpe only
    assert m["bert-base-uncased.sparse_grad_params"] == (30522 + 512 + 2) * 768
    assert m["t5-small.sparse_grad_params"] == 2 * 32 * 8  # the two relative-bucket tables
    assert m["llama-2-7b.sparse_grad_params"] == 32000 * 4096  # embed_tokens (lm_head is a separate matrix)
    assert m["deberta-v3-base.sparse_grad_params"] == (128_100 + 512) * 768  # word + rel_embeddings
    assert m["all-MiniLM-L6-v2.sparse_grad_params"] == (30522 + 512 + 2) * 384


def test_gradient_rows_follow_the_batch(default_result):
    rows = _rows(default_result)
    ids, _ = _batch_ids(512)
    T = ids.shape[1]
    # Tied tables: every row, although the batch holds only a few ids.
    assert rows[("gpt2", "wte")][:2] == [512, 512]
    assert rows[("t5-small", "shared")][:2] == [512, 512]
    # Untied token tables: the distinct ids; in a causal LM only those before the last position.
    assert rows[("bert-base-uncased", "word")][:2] == [512, len(ids.unique())]
    assert rows[("deberta-v3-base", "word")][:2] == [512, len(ids.unique())]
    assert rows[("llama-2-7b", "embed_tokens")][:2] == [512, len(ids[:, :-1].unique())]
    minilm_ids, _ = _batch_ids(30522)
    assert rows[("all-MiniLM-L6-v2", "word")][:2] == [30522, len(minilm_ids.unique())]
    # Position tables: T rows (T - 1 in a causal LM: the last position predicts nothing), all at full length.
    assert rows[("gpt2", "wpe")] == [1024, T - 1, 1024, 1023]
    assert rows[("bert-base-uncased", "position")] == [512, T, 512, 512]
    assert rows[("bert-base-uncased", "token_type")][:2] == [2, 1]  # every token is segment 0
    # Relative tables: 2T - 1 distances -7..7 both ways; T5's decoder sees only 0..7 (causal buckets).
    assert rows[("deberta-v3-base", "rel")][:2] == [512, 2 * T - 1]
    assert rows[("t5-small", "enc rel_bias")][:2] == [32, 2 * T - 1]
    assert rows[("t5-small", "dec rel_bias")][:2] == [32, T]
    # The table printed shows the same rows.
    table = next(t for t in default_result.tables if t.title.startswith("Rows with non-zero gradient"))
    assert ["gpt2", "wpe", 1024, T - 1, 1024, 1023] in table.rows


def test_relative_rows_at_full_length_match_the_library_buckets(default_result):
    import torch
    from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position
    from transformers.models.t5.modeling_t5 import T5Attention

    rows = _rows(default_result)
    T = 512
    positions = torch.arange(T)
    relative = positions[None, :] - positions[:, None]  # (T, T): key - query
    enc = T5Attention._relative_position_bucket(relative, bidirectional=True, num_buckets=32, max_distance=128)
    dec = T5Attention._relative_position_bucket(relative, bidirectional=False, num_buckets=32, max_distance=128)
    assert rows[("t5-small", "enc rel_bias")][2:] == [512, len(enc.unique())]
    assert rows[("t5-small", "dec rel_bias")][2:] == [512, len(dec.unique())]
    # DeBERTa: c2p reads row clamp(r + span), p2c row clamp(-r + span), r the bucketed query - key distance.
    query = torch.zeros(1, T, 1)
    r = build_relative_position(query, query, bucket_size=256, max_position=512)[0]  # (T, T)
    span = 256
    used = torch.cat([torch.clamp(r + span, 0, 2 * span - 1).flatten(), torch.clamp(-r + span, 0, 2 * span - 1).flatten()])
    assert rows[("deberta-v3-base", "rel")][2:] == [512, len(used.unique())]


def test_row_sparse_verdict_on_both_sides(default_result):
    from n00bqa.probes.grad_rows import row_sparse

    assert row_sparse(7, 1024) and not row_sparse(512, 512)
    tied = finding_with(default_result, "Tables tied to the output layer (the LM head's weight is the same "
                                         "tensor) get gradient in every row")
    assert ("gpt2's 38,597,376-parameter wte is dense, bert-base-mlm's 23,440,896-parameter word is dense and "
            "t5-small's 16,449,536-parameter shared is dense.") in tied
    untied = finding_with(default_result, "Untied token tables (no output layer shares them) get gradient only in "
                                          "the rows of the ids the batch uses")
    assert "llama-2-7b's embed_tokens" in untied.split(".")[0] and "gpt2" not in untied
    # the tie is checked on the tensors, not assumed from the class: exactly the three tied tables
    assert {t.name for m in default_result.numbers.values() for t in m.tables if t.tied} == {
        "transformer.wte.weight", "bert.embeddings.word_embeddings.weight", "shared.weight"}
    finding_with(default_result, "Each of them gains rows at full length")
    sizes = next(t for t in default_result.tables if t.title.startswith("Parameters with a row-sparse"))
    assert sizes.columns == ["model", "sparse grad", "dense grad", "sparse %"]


def test_bert_word_table_under_each_head(default_result):
    """BERT as pretrained (BertForMaskedLM): the MLM decoder IS the word table, so every row gets gradient;
    the bare BertModel's word table gets only the batch's rows. Independent: the tie and the rows by hand."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    m = default_result.metrics
    assert m["bert-base-mlm.sparse_grad_params"] == (512 + 2) * 768  # position + token_type only
    assert m["bert-base-uncased.sparse_grad_params"] == (30522 + 512 + 2) * 768
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    mlm = BertForMaskedLM(config)
    table = mlm.bert.embeddings.word_embeddings.weight
    assert mlm.cls.predictions.decoder.weight is table  # tied: one tensor
    ids = torch.tensor([[5, 6, 7, 8]])
    mlm(input_ids=ids, labels=ids).loss.backward()
    assert int((table.grad != 0).any(dim=1).sum()) == 64  # every row, from 4 ids
    sentence = finding_with(default_result, "depends on the head")
    assert "512 of 512 rows got gradient, so it is dense" in sentence and "so it is row-sparse" in sentence


def test_model_folder_runs_a_one_layer_twin_and_a_bad_folder_is_one_line(tmp_path):
    probe = find_probe(None, "grad-rows")
    result = run_probe(None, probe, probe.make_options(model=str(bundled_model_path())), cache=False)
    assert_output_whole(result)
    assert result.metrics["all-MiniLM-L6-v2.sparse_grad_params"] == (30522 + 512 + 2) * 384
    out = CliRunner().invoke(app, ["probe", "grad-rows", "--model", str(tmp_path / "missing")])
    assert out.exit_code == 2 and "does not exist" in out.output  # a refused option value: usage error


def test_recorded_verdicts_follow_from_the_run(default_result):
    """Each table's class is recorded as its twin's rows vs the rows that got gradient (both printed)."""
    from tests.support.recorded_verdicts import verdict_words

    words = verdict_words(default_result)
    twin = next(t for t in default_result.tables if t.title.startswith("Rows with non-zero gradient"))
    classes = next(t for t in default_result.tables if t.title == "Embedding tables at full size")
    # the table's column, row by row, from the twin's rows and rows with gradient at T=8
    expected = ["sparse" if rows > got else "dense" for rows, got in ((r[2], r[3]) for r in twin.rows)]
    assert [r[-1] for r in classes.rows] == expected
    assert [v.word for v in default_result.verdicts if v.above == "sparse"] == expected
    assert ("tables gaining no rows", "Each of them gains rows") in words
    in_findings = [v.word for v in default_result.verdicts if v.above == "row-sparse"]
    tables = [t for m in default_result.numbers.values() for t in m.tables]
    tied = [t for t in tables if t.tied]
    untied = [t for t in tables if not t.tied and t.role == "token id"]
    # the tied tables (all dense), the untied token tables (each row-sparse: 13-16 rows of 512-row twins
    # and MiniLM's 30,522), deberta's rel, then BERT's word table under the MLM head and bare
    assert len(tied) == 3 and len(untied) >= 4
    assert in_findings == ["dense"] * 3 + ["row-sparse"] * len(untied) + ["row-sparse", "dense", "row-sparse"]
