"""param-count: counts against published figures and the safetensors header read by hand; memory
against bytes per parameter."""

from __future__ import annotations

import json
import math
import struct

import pytest
from typer.testing import CliRunner

from n00bqa.cli import app
from n00bqa.probes import find_probe
from n00bqa.probes.runs import run_probe
from n00bqa.study import bundled_model_path
from tests.support.probes import assert_output_whole, finding_stating, finding_with
from tests.support.runs import default_run

MODELS = ("gpt2", "bert-base-uncased", "t5-small", "llama-2-7b", "deberta-v3-base", "all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def default_result(smollm2):  # smollm2: the session's one conversion of the GGUF, which the default run counts
    probe = find_probe(None, "param-count")
    return default_run(probe.name)


def test_default_output_is_whole(default_result):
    assert_output_whole(default_result)


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
    assert "matches the published 124,439,808" in finding_stating(default_result, "gpt2.total", "gpt2:")


def test_metric_keys_for_every_model(default_result):
    m = default_result.metrics
    for name in MODELS:
        assert m[f"{name}.embedding"] + m[f"{name}.dense"] == m[f"{name}.total"]
        assert m[f"{name}.embedding_fraction"] == pytest.approx(m[f"{name}.embedding"] / m[f"{name}.total"])
        assert sum(v for k, v in m.items() if k.startswith(f"{name}.components.")) == m[f"{name}.total"]


def test_memory_is_bytes_per_parameter(default_result):
    m = default_result.metrics
    total = m["llama-2-7b.total"]
    for kind, bytes_per in (("fp32", 4), ("bf16", 2), ("int8", 1), ("adam_fp32", 4 + 4 + 4 + 4)):
        assert m[f"llama-2-7b.memory_gb.{kind}"] == pytest.approx(bytes_per * total / 1e9)
    finding_with(default_result, "llama-2-7b needs", "to train with Adam")


def test_numbers_are_kept_on_the_result(default_result):
    gpt2 = default_result.numbers["gpt2"]
    assert gpt2.total == default_result.metrics["gpt2.total"]
    assert gpt2.tied == [["transformer.wte.weight", "lm_head.weight"]]
    finding_with(default_result, "gpt2 ties weights", "transformer.wte.weight = lm_head.weight")


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


def test_bundled_model_cross_checks_safetensors(default_result):
    m = default_result.metrics
    # Independent: every number stored in the checkpoint, minus the saved position_ids buffer (1 × 512).
    assert _header_numels(bundled_model_path()) - 512 == m["all-MiniLM-L6-v2.total"] == 22_713_216
    assert m["all-MiniLM-L6-v2.checkpoint.matches"] is True
    assert "embeddings.position_ids" in finding_with(default_result, "checkpoint header", "all-MiniLM")
    probe = find_probe(None, "param-count")
    assert probe.metric_name("all-MiniLM-L6-v2.checkpoint_matches") == "all-MiniLM-L6-v2.checkpoint.matches"


def test_model_folder_cross_checks_safetensors():
    folder = bundled_model_path()
    probe = find_probe(None, "param-count")
    result = run_probe(None, probe, probe.make_options(model=str(folder)), cache=False)
    assert_output_whole(result)
    assert result.metrics["all-MiniLM-L6-v2.total"] == 22_713_216
    assert result.metrics["all-MiniLM-L6-v2.checkpoint.matches"] is True


def test_model_folder_without_weights_and_bad_folder(tmp_path):
    (tmp_path / "config.json").write_text((bundled_model_path() / "config.json").read_text())
    probe = find_probe(None, "param-count")
    result = run_probe(None, probe, probe.make_options(model=str(tmp_path)), cache=False)
    assert_output_whole(result)
    assert result.metrics[f"{tmp_path.name}.total"] == 22_713_216
    assert f"{tmp_path.name}.checkpoint.matches" not in result.metrics
    runner = CliRunner()
    out = runner.invoke(app, ["probe", "param-count", "--model", str(tmp_path / "missing")])
    assert out.exit_code == 2 and "does not exist" in out.output


def test_smollm2_counted_from_its_checkpoint_and_from_its_config(default_result, smollm2):
    from n00bqa.probes.lib.causal_lm import PUBLISHED_PARAMETERS
    from n00bqa.probes.lib.counting import count_parameters

    m = default_result.metrics
    assert m["SmolLM2-135M-Instruct.total"] == count_parameters(smollm2.model) == PUBLISHED_PARAMETERS == 134_515_008
    assert m["SmolLM2-135M-Instruct.checkpoint.params"] == 134_515_008
    # By hand: V h once (tied) + 30 x (q 576x576 + k, v 576x192 + o 576x576 + 3 x 576x1536 + 2 x 576) + 576
    per_layer = 576 * 576 + 2 * 576 * 3 * 64 + 576 * 576 + 3 * 576 * 1536 + 2 * 576
    assert m["SmolLM2-135M-Instruct.llama_formula.total"] == 49_152 * 576 + 30 * per_layer + 576 == 134_515_008
    assert m["SmolLM2-135M-Instruct.llama_formula.kv_projections"] == 30 * 2 * 576 * 3 * 64
    assert m["SmolLM2-135M-Instruct.llama_formula.kv_projections_if_mha"] == 30 * 2 * 576 * 9 * 64
    finding_with(default_result, "SmolLM2-135M-Instruct from its config alone", "the count above")


def test_every_verdict_is_recorded_with_its_numbers_printed(default_result):
    from tests.support.recorded_verdicts import verdict_words

    # gpt2, bert, t5, llama-2-7b, MiniLM (+ its checkpoint), SmolLM2 (+ its checkpoint, + its config formula)
    assert verdict_words(default_result) == [("exact", "matches")] * 5 + [("exact", "which matches the count")] \
        + [("exact", "matches"), ("exact", "which matches the count"), ("exact", "the count above")]


def test_a_count_off_its_published_figure_says_by_how_much(default_result):
    import dataclasses

    from n00bqa.probes.base import report_with_verdicts
    from n00bqa.probes.param_count import report

    opts = find_probe(None, "param-count").make_options()
    numbers = {**default_result.numbers,
               "gpt2": dataclasses.replace(default_result.numbers["gpt2"], total=124_439_808 + 768)}
    made, recorded = report_with_verdicts(report, numbers, opts)
    assert recorded[0].word == "differs by +768 from" and recorded[0].value == 768
    assert "The count differs by +768 from the published 124,439,808." in made.findings[0]
