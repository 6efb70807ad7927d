"""The seq2seq-walk probe: greedy decoding on a Hugging Face encoder-decoder, by default a tiny random T5
built in-process, with --model a saved folder; its loop checked against model.generate."""

from __future__ import annotations

import json

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import Context
from n00bqa.probes.runs import run_probe
from tests.support.probes import assert_output_whole, finding_stating, finding_with
from tests.support.runs import default_run


@pytest.fixture(scope="module")
def result():
    probe = find_probe(None, "seq2seq-walk")
    return default_run(probe.name)


@pytest.fixture(scope="module")
def tiny_t5_folder(tmp_path_factory):
    """The tiny random T5, saved with its (MiniLM) tokenizer, as a --model folder."""
    from n00bqa.probes.lib.seq2seq import tiny_t5

    model, tokenizer = tiny_t5(0)
    folder = tmp_path_factory.mktemp("tiny-t5")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_default_run_is_whole(result):
    assert_output_whole(result)
    finding_with(result, "weights are random")


def test_default_run_counts_its_cross_attention_weights(result):
    m = result.metrics
    assert (m["decoder_layers"], m["heads"], m["d_model"]) == (2, 4, 32)
    assert m["source_tokens"] == 11  # [CLS] the small dog sees the big red cat . [SEP]
    assert m["cross_weights_per_step"] == 2 * 4 * 11
    finding_stating(result, "cross_weights_per_step", "cross-attention weights per step")
    assert m["matches_generate"] is True


def test_model_path_walks_a_hf_encoder_decoder(tiny_t5_folder):
    probe = find_probe(None, "seq2seq-walk")
    opts = probe.make_options(model=str(tiny_t5_folder), text="the cat sees the dog", max_new_tokens=6)
    result = run_probe(None, probe, opts, cache=False)
    assert_output_whole(result)
    m = result.metrics
    assert m["decoder_layers"] == 2 and m["heads"] == 4 and m["d_model"] == 32
    assert m["source_tokens"] == 7  # [CLS] the cat sees the dog [SEP]
    assert 1 <= m["steps"] <= 6
    assert m["matches_generate"] is True
    shapes = result.numbers.shapes
    assert shapes["encoder memory (last_hidden_state)"] == "(1, 7, 32)"
    assert shapes["cross-attention, per layer (last step)"] == f"(1, 4, {m['steps']}, 7)"
    heat = next(t for t in result.tables if t.title.startswith("Cross-attention heatmap"))
    assert len(heat.rows) == m["steps"]
    for row in heat.rows:  # each row is a distribution over the source tokens, in percent
        assert abs(sum(int(cell[1:]) for cell in row[1:]) - 100) <= len(row)


def test_model_path_without_tokenizer_is_a_clear_error(tiny_t5_folder, tmp_path):
    import shutil

    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_t5_folder / name).exists():
            shutil.copy(tiny_t5_folder / name, folder / name)
    probe = find_probe(None, "seq2seq-walk")
    with pytest.raises(ProbeError, match="tokenizer"):
        probe.measure(probe.make_options(model=str(folder)), Context())


def test_cli_json_with_model(tiny_t5_folder):
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["probe", "seq2seq-walk", "--model", str(tiny_t5_folder),
                                      "--max-new-tokens", "3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["probe"] == "seq2seq-walk" and data["question"] == "encoder-decoder"
    assert data["metrics"]["steps"] <= 3


def test_cli_rejects_a_folder_without_config(tmp_path):
    from typer.testing import CliRunner

    from n00bqa.cli import app

    result = CliRunner().invoke(app, ["probe", "seq2seq-walk", "--model", str(tmp_path)])
    assert result.exit_code == 2  # a refused option value is a usage error (README: exit codes)
    assert "no config.json" in result.output
    assert "Traceback" not in result.output


def test_model_path_rejects_an_encoder_only_model():
    from n00bqa.study import bundled_model_path

    probe = find_probe(None, "seq2seq-walk")
    with pytest.raises(ProbeError, match="'bert' model, not an encoder-decoder"):
        probe.measure(probe.make_options(model=str(bundled_model_path())), Context())


@pytest.mark.parametrize("values, message", [(dict(max_new_tokens=0), "--max-new-tokens"), (dict(text=" "), "--text")])
def test_bad_options_are_one_line_errors(values, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "seq2seq-walk").make_options(**values)
