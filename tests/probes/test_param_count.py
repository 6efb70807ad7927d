"""param-count: counts against published figures, closed-form formulas and the safetensors header."""

from __future__ import annotations

import json
import math
import struct

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.probes import find_probe
from n00bqa.probes.base import run_probe, unexplained_numbers
from n00bqa.probes.param_count import build_on_meta, count_model, published_architectures
from n00bqa.study import bundled_model_path


@pytest.fixture(scope="module")
def default_result():
    probe = find_probe(None, "param-count")
    return run_probe(None, probe, probe.make_options(), cache=False)


def test_every_number_in_a_finding_is_measured(default_result):
    assert unexplained_numbers(default_result) == []


@pytest.fixture(scope="module")
def archs():
    return {name: (config, cls) for name, config, cls in published_architectures()}


def test_counts_match_published_figures(default_result):
    m = default_result.metrics
    assert m["gpt2.total"] == 124_439_808
    assert m["bert-base-uncased.total"] == 109_482_240
    assert m["t5-small.total"] == 60_506_624
    assert m["llama-2-7b.total"] == 6_738_415_616
    assert m["all-MiniLM-L6-v2.total"] == 22_713_216
    # deberta-v3-base's card: "86M backbone + 98M embedding" (128,100 × 768 token table).
    assert m["deberta-v3-base.embedding"] == 128_100 * 768
    assert round((m["deberta-v3-base.total"] - 128_100 * 768) / 1e6) == 85


def test_metric_keys_for_every_model(default_result):
    for name in ("gpt2", "bert-base-uncased", "t5-small", "llama-2-7b", "deberta-v3-base", "all-MiniLM-L6-v2"):
        m = default_result.metrics
        assert m[f"{name}.embedding"] + m[f"{name}.dense"] == m[f"{name}.total"]
        assert m[f"{name}.embedding_fraction"] == pytest.approx(m[f"{name}.embedding"] / m[f"{name}.total"])


def test_gpt2_closed_form_and_tied_head(archs):
    config, cls = archs["gpt2"]
    counts = count_model(build_on_meta(config, cls))
    V, P, d, L = config.vocab_size, config.n_positions, config.n_embd, config.n_layer
    # per block: 2 LayerNorms, c_attn d×3d+3d, c_proj d×d+d, c_fc d×4d+4d, mlp c_proj 4d×d+d
    block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    assert counts["total"] == V * d + P * d + L * block + 2 * d
    assert counts["embedding"] == V * d + P * d
    assert ["transformer.wte.weight", "lm_head.weight"] in counts["tied"]
    assert counts["tied_output"] == V * d


def test_bert_closed_form_components(archs):
    config, cls = archs["bert-base-uncased"]
    counts = count_model(build_on_meta(config, cls))
    V, P, T, d, ff, L = 30522, 512, 2, 768, 3072, 12
    c = counts["components"]
    assert c["embeddings"] == (V + P + T) * d
    assert c["attention"] == L * 4 * (d * d + d)
    assert c["mlp"] == L * (d * ff + ff + ff * d + d)
    assert c["norms"] == (2 * L + 1) * 2 * d
    assert c["heads"] == d * d + d  # the pooler
    assert c["other"] == 0


def test_llama_closed_form(archs):
    config, cls = archs["llama-2-7b"]
    counts = count_model(build_on_meta(config, cls))
    V, d, ff, L = 32000, 4096, 11008, 32
    assert counts["total"] == 2 * V * d + L * (4 * d * d + 3 * d * ff + 2 * d) + d
    assert counts["embedding"] == V * d  # the untied LM head is dense
    assert counts["tied"] == []


def test_t5_ties_four_names_and_relative_tables(archs):
    config, cls = archs["t5-small"]
    counts = count_model(build_on_meta(config, cls))
    assert sorted(max(counts["tied"], key=len)) == sorted(
        ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"])
    assert counts["embedding"] == 32128 * 512 + 2 * 32 * 8


def test_deberta_relative_table_is_dense(archs):
    config, cls = archs["deberta-v3-base"]
    counts = count_model(build_on_meta(config, cls))
    rel = [t for t in counts["tables"] if "rel_embeddings" in t["name"]]
    assert rel and not rel[0]["lookup"] and rel[0]["shape"] == [512, 768]
    assert counts["embedding"] == 128_100 * 768


def _header_numels(folder):
    total = 0
    for path in folder.glob("*.safetensors"):
        raw = path.read_bytes()[:8]
        (size,) = struct.unpack("<Q", raw)
        with open(path, "rb") as f:
            f.seek(8)
            header = json.loads(f.read(size))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total


def test_model_folder_cross_checks_safetensors():
    folder = bundled_model_path()
    probe = find_probe(None, "param-count")
    result = run_probe(None, probe, probe.make_options(model=str(folder)), cache=False)
    assert unexplained_numbers(result) == []
    m = result.metrics
    # Independent: every number stored in the checkpoint, minus the saved position_ids buffer (1 × 512).
    assert _header_numels(folder) - 512 == m["all-MiniLM-L6-v2.total"] == 22_713_216
    assert m["all-MiniLM-L6-v2.checkpoint_matches"] is True
    assert any("embeddings.position_ids" in f for f in result.findings)


def test_model_folder_without_weights_and_bad_folder(tmp_path):
    (tmp_path / "config.json").write_text((bundled_model_path() / "config.json").read_text())
    probe = find_probe(None, "param-count")
    result = run_probe(None, probe, probe.make_options(model=str(tmp_path)), cache=False)
    assert unexplained_numbers(result) == []
    assert result.metrics[f"{tmp_path.name}.total"] == 22_713_216
    runner = CliRunner()
    out = runner.invoke(app, ["probe", "param-count", "--model", str(tmp_path / "missing")])
    assert out.exit_code == 1 and "does not exist" in out.output


def test_flops_convention(default_result):
    m = default_result.metrics
    # gpt2: 2 × (dense + tied output table) + 4 × 12 layers × 1024 × 768
    expected = 2 * (m["gpt2.dense"] + 50257 * 768) + 4 * 12 * 1024 * 768
    assert m["gpt2.forward_flops_per_token"] == expected
