"""The hf-internals probe's facts, each checked against the installed transformers independently."""

from __future__ import annotations

from pathlib import Path

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from tests.support.runs import default_run
from support.probes import assert_output_whole, finding_stating


@pytest.fixture(scope="module")
def result():
    from n00bqa.probes import find_probe

    probe = find_probe(None, "hf-internals")
    return default_run(probe.name)


def table(result, title: str):
    """The one table whose title starts with `title`."""
    [hit] = [t for t in result.tables if t.title.startswith(title)]
    return hit


def test_every_number_in_a_finding_is_measured(result):
    assert_output_whole(result)


def test_old_metric_names_resolve_to_the_nested_ones(result):
    from n00bqa.probes import find_probe

    probe = find_probe(None, "hf-internals")
    assert probe.metric_name("backbone_params") == "deberta.backbone_params"
    for old, new in probe.renamed_metrics.items():
        assert new in result.metrics, old


def test_factory_counts_match_the_mapping(result):
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES

    assert result.metrics["mc_architectures"] == len(MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES)
    factory = table(result, "AutoModelForMultipleChoice: config class")
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
    finding_stating(result, "bert_mc_params", "returns a BertForMultipleChoice", "a DebertaV2ForMultipleChoice")


def test_mro_and_module_tree(result):
    import torch
    from transformers import DebertaV2ForMultipleChoice, PreTrainedModel

    assert issubclass(DebertaV2ForMultipleChoice, PreTrainedModel)
    assert issubclass(DebertaV2ForMultipleChoice, torch.nn.Module)
    assert result.metrics["is_pretrained_model"] is True
    mro_table = table(result, "DebertaV2ForMultipleChoice.__mro__")
    assert [row[1] for row in mro_table.rows] == [k.__name__ for k in DebertaV2ForMultipleChoice.__mro__]
    tree = table(result, "DebertaV2ForMultipleChoice module tree")
    top_level = [row for row in tree.rows if not row[0].startswith(" ") and row[0] != "total"]
    total_row = tree.rows[-1]
    assert total_row[0] == "total"
    # the top-level children's counts add up to the model's total
    assert sum(row[2] for row in top_level) == total_row[2] == result.metrics["total_params"]
    assert [row[0] for row in top_level] == ["deberta", "pooler", "classifier", "dropout"]
    # the head is Linear(hidden -> 1): hidden + 1 parameters, at deberta-v3-base's hidden size 768
    assert result.metrics["head_params"] == 768 + 1
    layers = [row for row in tree.rows if row[0].strip().startswith("deberta.encoder.layer.")]
    assert len(layers) == 12 and len({row[2] for row in layers}) == 1


def test_string_keys_in_and_out(result):
    import inspect

    from transformers import DebertaV2ForMultipleChoice

    params = inspect.signature(DebertaV2ForMultipleChoice.forward).parameters
    for key in ("input_ids", "attention_mask", "token_type_ids", "labels"):
        assert key in params
    io = table(result, "DebertaV2ForMultipleChoice.forward")
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
    assert any(f"modeling_deberta_v2.py:{result.metrics['source_line']}" in f for f in result.findings)


def test_deberta_is_dissected_at_deberta_v3_base_settings(result):
    """The counts against closed forms at deberta-v3-base's config.json (checked against published copies of
    it), and the relative-attention layout those settings build; DebertaV2Config's defaults are another model."""
    from transformers import DebertaV2Config

    from n00bqa.probes.hf_internals import DEBERTA_V3_BASE

    assert DEBERTA_V3_BASE == dict(
        vocab_size=128100, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=512, relative_attention=True, position_biased_input=False,
        pos_att_type=["p2c", "c2p"], max_relative_positions=-1, position_buckets=256, norm_rel_ebd="layer_norm",
        share_att_key=True, type_vocab_size=0, layer_norm_eps=1e-7)
    defaults = DebertaV2Config()
    assert (defaults.relative_attention, defaults.position_biased_input) == (False, True)  # not v3's layout
    m = result.metrics
    h, ff, layers, vocab, buckets = 768, 3072, 12, 128100, 256
    per_layer = 4 * (h * h + h) + 2 * h + (h * ff + ff) + (ff * h + h) + 2 * h  # q,k,v,o + LN + FFN + LN
    assert per_layer == 7_087_872
    word = vocab * h
    bare = word + 2 * h + layers * per_layer + 2 * buckets * h + 2 * h  # + embeddings LN, rel table, its LN
    assert m["deberta.word_embedding_params"] == word == 98_380_800
    assert m["deberta.bare_model_params"] == bare == 183_831_552
    assert m["deberta.backbone_params"] == bare - word
    assert m["total_params"] == bare + (h * h + h) + (h + 1)  # + pooler dense + classifier
    assert m["deberta.absolute_position_table"] is False
    assert (m["deberta.rel_embeddings_rows"], m["deberta.rel_embeddings_cols"]) == (2 * buckets, h)
    assert m["deberta.position_buckets"] == buckets and m["deberta.shared_key_projection"] is True
    assert "no absolute position table" in " ".join(result.findings)
    assert "deberta-v3-base's settings" in table(result, "DebertaV2ForMultipleChoice module tree").title


def test_task_heads_are_found_as_model_classes(result):
    """Against the installed library's own list: every task class its auto mappings name for the type."""
    import transformers.models.auto.modeling_auto as auto
    from transformers.models.bert import modeling_bert
    from transformers.models.deberta_v2 import modeling_deberta_v2

    from n00bqa.probes.hf_internals import task_head_classes

    def from_auto_mappings(model_type: str) -> set[str]:
        names = set()
        for attr in dir(auto):
            if attr.startswith("MODEL_") and attr.endswith("_MAPPING_NAMES") and attr != "MODEL_MAPPING_NAMES":
                value = getattr(auto, attr).get(model_type)
                names.update([value] if isinstance(value, str) else value or [])
        return names - {auto.MODEL_MAPPING_NAMES[model_type]}

    bert_heads = task_head_classes(modeling_bert, modeling_bert.BertForMultipleChoice)
    assert set(bert_heads) == from_auto_mappings("bert")
    assert "BertLMHeadModel" in bert_heads and "BertForPreTrainingOutput" not in bert_heads
    assert hasattr(modeling_bert, "BertForPreTrainingOutput")  # it exists, as a dataclass, and is not a head
    deberta_heads = task_head_classes(modeling_deberta_v2, modeling_deberta_v2.DebertaV2ForMultipleChoice)
    assert set(deberta_heads) == from_auto_mappings("deberta-v2")
    assert result.metrics["source_file_task_heads"] == len(deberta_heads) == 5


def test_autotokenizer_order_is_measured_and_cited(result):
    import inspect

    from transformers.models.auto import tokenization_auto

    cases = table(result, "AutoTokenizer.from_pretrained on copies")
    for _, tokenizer_config_class, config_class, model_type, returned in cases.rows:
        expected = (tokenizer_config_class if tokenizer_config_class != "—" else
                    config_class if config_class != "—" else tokenization_auto.TOKENIZER_MAPPING_NAMES[model_type])
        assert returned == expected
    assert [row[4] for row in cases.rows] == [c.returned for c in result.numbers.autotokenizer.values()] == [
        "BertTokenizer", "DistilBertTokenizer", "FunnelTokenizer",
                                              "MPNetTokenizer"]
    # the cited lines hold the code they are cited for, in that order
    lines = inspect.getsource(tokenization_auto).splitlines()
    m = result.metrics
    assert 'tokenizer_config.get("tokenizer_class"' in lines[m["autotokenizer_lines.tokenizer_config"] - 1]
    assert "tokenizer_config_class or getattr(config, \"tokenizer_class\"" in \
        lines[m["autotokenizer_lines.precedence"] - 1]
    assert "TOKENIZER_MAPPING.get(type(config)" in lines[m["autotokenizer_lines.model_type"] - 1]
    assert m["autotokenizer_lines.tokenizer_config"] < m["autotokenizer_lines.precedence"] < \
        m["autotokenizer_lines.model_type"]
    assert m["incorrect_hub_class_types"] == len(tokenization_auto.MODELS_WITH_INCORRECT_HUB_TOKENIZER_CLASS)
    assert any(f.startswith("AutoTokenizer picks its class in this order") and
               "tokenizer_config.json's tokenizer_class first" in f for f in result.findings)


def test_tokenizer_fields(result, minilm):
    tokenizer, _ = minilm
    encoding = tokenizer("What is the powerhouse of the cell?", "The mitochondria.")
    assert set(encoding) == {"input_ids", "token_type_ids", "attention_mask"}
    tokens = table(result, f"{type(tokenizer).__name__}(question, answer)")
    assert [row[2] for row in tokens.rows] == encoding["input_ids"]
    assert [row[3] for row in tokens.rows] == encoding["token_type_ids"]
    assert result.metrics["segment_b_tokens"] == sum(encoding["token_type_ids"])


def test_other_model_type_and_bad_values():
    from n00bqa.probes import find_probe
    from n00bqa.probes.base import unexplained_numbers
    from n00bqa.probes.runs import run_probe

    probe = find_probe(None, "hf-internals")
    bert = run_probe(None, probe, probe.make_options(model_type="bert", depth=1), cache=False)
    assert unexplained_numbers(bert) == []
    assert bert.metrics["source_file_task_heads"] == 8
    heads_finding = next(f for f in bert.findings if "task models, found as the subclasses of" in f)
    assert "BertLMHeadModel" in heads_finding and "BertForPreTrainingOutput" not in heads_finding
    assert not any(k.startswith("deberta.") for k in bert.metrics) and bert.numbers.deberta is None  # the DeBERTa layout is DeBERTa's only
    assert table(bert, "BertForMultipleChoice.__mro__").rows[0][1] == "BertForMultipleChoice"
    assert [row[0] for row in table(bert, "BertForMultipleChoice module tree").rows] == [
        "bert", "dropout", "classifier", "total"]
    with pytest.raises(ProbeError, match="'gpt2' has no multiple-choice class"):
        run_probe(None, probe, probe.make_options(model_type="gpt2"), cache=False)
    with pytest.raises(ProbeError, match="'funnel' cannot be built from the generic tiny config"):
        run_probe(None, probe, probe.make_options(model_type="funnel"), cache=False)
    with pytest.raises(ProbeError, match="--depth"):
        probe.make_options(depth=0)


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    n = result.numbers
    both = n.autotokenizer["both name a class"]
    assert verdict_words(result) == [
        ("exact", "add up to"), ("shape mismatches", "one score per choice"),
        ("returned other than tokenizer_config's",
         f"tokenizer_config.json's {both.tokenizer_config}, not config.json's {both.config}")]


def test_a_tokenizer_class_from_config_json_is_not_credited_to_tokenizer_config(result):
    import dataclasses

    from n00bqa.probes.base import report_with_verdicts
    from n00bqa.probes.hf_internals import report

    n = result.numbers
    both = n.autotokenizer["both name a class"]
    flipped = dataclasses.replace(n, autotokenizer={**n.autotokenizer, "both name a class":
                                                    dataclasses.replace(both, returned=both.config)})
    made, recorded = report_with_verdicts(report, flipped, find_probe(None, "hf-internals").make_options())
    assert recorded[-1].word.startswith("NOT tokenizer_config.json's")
    assert f"returned {both.config} (NOT tokenizer_config.json's" in " ".join(made.findings)
