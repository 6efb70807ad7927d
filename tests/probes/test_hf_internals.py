"""The hf-internals probe's facts, each checked against the installed transformers independently."""

from __future__ import annotations

from pathlib import Path

import pytest

from n00bqa.errors import ProbeError


@pytest.fixture(scope="module")
def result():
    from n00bqa.probes import find_probe
    from n00bqa.probes.base import run_probe

    probe = find_probe(None, "hf-internals")
    return run_probe(None, probe, probe.make_options(), seed=0, cache=False)


def test_every_number_in_a_finding_is_measured(result):
    from n00bqa.probes.base import unexplained_numbers

    assert unexplained_numbers(result) == []


def test_factory_counts_match_the_mapping(result):
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES

    assert result.metrics["mc_architectures"] == len(MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES)
    factory = result.tables[0]
    rows = {row[0]: row for row in factory.rows}
    assert rows["bert"][1:] == ["BertConfig", "BertForMultipleChoice"]
    assert rows["deberta-v2"][1:] == ["DebertaV2Config", "DebertaV2ForMultipleChoice"]
    assert "no multiple-choice class" in rows["gpt2"][2]


def test_from_config_returns_concrete_classes(result):
    from transformers import AutoModelForMultipleChoice, BertConfig, BertForMultipleChoice

    from n00bqa.probes.hf_internals import TINY

    model = AutoModelForMultipleChoice.from_config(BertConfig(**TINY))
    assert type(model) is BertForMultipleChoice
    assert result.metrics["bert_mc_params"] == sum(p.numel() for p in model.parameters())
    assert "returns a BertForMultipleChoice" in result.findings[1]
    assert "a DebertaV2ForMultipleChoice" in result.findings[1]


def test_mro_and_module_tree(result):
    import torch
    from transformers import DebertaV2ForMultipleChoice, PreTrainedModel

    assert issubclass(DebertaV2ForMultipleChoice, PreTrainedModel)
    assert issubclass(DebertaV2ForMultipleChoice, torch.nn.Module)
    assert result.metrics["is_pretrained_model"] is True
    mro_table = result.tables[1]
    assert [row[1] for row in mro_table.rows] == [k.__name__ for k in DebertaV2ForMultipleChoice.__mro__]
    tree = result.tables[2]
    top_level = [row for row in tree.rows if not row[0].startswith(" ") and row[0] != "total"]
    total_row = tree.rows[-1]
    assert total_row[0] == "total"
    # the top-level children's counts add up to the model's total
    assert sum(row[2] for row in top_level) == total_row[2] == result.metrics["total_params"]
    assert [row[0] for row in top_level] == ["deberta", "pooler", "classifier", "dropout"]
    # the head is Linear(hidden -> 1): hidden + 1 parameters
    assert result.metrics["head_params"] == 32 + 1
    layers = [row for row in tree.rows if row[0].strip().startswith("deberta.encoder.layer.")]
    assert len(layers) == 2 and layers[0][2] == layers[1][2]


def test_string_keys_in_and_out(result):
    import inspect

    from transformers import DebertaV2ForMultipleChoice

    params = inspect.signature(DebertaV2ForMultipleChoice.forward).parameters
    for key in ("input_ids", "attention_mask", "token_type_ids", "labels"):
        assert key in params
    io = result.tables[3]
    outputs = {row[1]: row[2] for row in io.rows if row[0] == "output"}
    assert outputs == {"loss": "scalar", "logits": "2×4"}
    assert result.metrics["output_is_model_output"] and result.metrics["output_is_ordered_dict"]
    assert result.metrics["logits_shape_matches"]


def test_repeat_yourself_counts_on_disk(result):
    import transformers

    package = Path(transformers.__file__).parent
    modeling = list(package.glob("models/*/modeling_*.py"))
    assert result.metrics["modeling_files"] == len(modeling) > 100
    assert result.metrics["modeling_bytes"] == sum(p.stat().st_size for p in modeling)
    markers = [p.read_text(encoding="utf-8").count("# Copied from transformers.") for p in modeling]
    assert result.metrics["copied_markers"] == sum(markers)
    assert result.metrics["files_with_copied_markers"] == sum(1 for m in markers if m)
    assert result.metrics["modular_files"] == len(list(package.glob("models/*/modular_*.py")))
    # the source line really is the class statement
    source = package / "models" / "deberta_v2" / "modeling_deberta_v2.py"
    lines = source.read_text(encoding="utf-8").splitlines()
    assert lines[result.metrics["source_line"] - 1].startswith("class DebertaV2ForMultipleChoice(")
    assert f"modeling_deberta_v2.py:{result.metrics['source_line']}" in result.findings[5]


def test_tokenizer_fields(result, minilm):
    tokenizer, _ = minilm
    encoding = tokenizer("What is the powerhouse of the cell?", "The mitochondria.")
    assert set(encoding) == {"input_ids", "token_type_ids", "attention_mask"}
    table = result.tables[-1]
    assert table.title.startswith(type(tokenizer).__name__)
    assert [row[2] for row in table.rows] == encoding["input_ids"]
    assert [row[3] for row in table.rows] == encoding["token_type_ids"]
    assert result.metrics["segment_b_tokens"] == sum(encoding["token_type_ids"])


def test_other_model_type_and_bad_values():
    from n00bqa.probes import find_probe
    from n00bqa.probes.base import run_probe, unexplained_numbers

    probe = find_probe(None, "hf-internals")
    bert = run_probe(None, probe, probe.make_options(model_type="bert", depth=1), cache=False)
    assert unexplained_numbers(bert) == []
    assert bert.tables[1].rows[0][1] == "BertForMultipleChoice"
    assert [row[0] for row in bert.tables[2].rows] == ["bert", "dropout", "classifier", "total"]
    with pytest.raises(ProbeError, match="'gpt2' has no multiple-choice class"):
        run_probe(None, probe, probe.make_options(model_type="gpt2"), cache=False)
    with pytest.raises(ProbeError, match="'funnel' cannot be built from the generic tiny config"):
        run_probe(None, probe, probe.make_options(model_type="funnel"), cache=False)
    with pytest.raises(ProbeError, match="--depth"):
        probe.make_options(depth=0)
