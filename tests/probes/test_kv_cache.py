"""kv-cache: the real cache's bytes against the formula and against a forward pass's own cache, the
published configs against hand arithmetic, and each verdict on both sides."""

from __future__ import annotations

import dataclasses

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.kv_cache import report
from n00bqa.probes.lib.configs import tiny_kv_models
from n00bqa.probes.runs import run_probe
from tests.support.probes import assert_output_whole, finding_stating, finding_with
from tests.support.runs import default_run
from tests.support.verdicts import problems
from tests.support.recorded_verdicts import verdicts_by_name


@pytest.fixture(scope="module")
def result(smollm2):  # smollm2: the session's one conversion, whose config the run reads
    probe = find_probe(None, "kv-cache")
    return default_run(probe.name)


def test_tiny_caches_equal_the_formula(result):
    m = result.metrics
    assert m["measured_equals_formula"] is True
    tokens = 6 + 5 - 1  # prompt + new tokens - the last one, never fed back
    layers, head_dim = 2, 64 // 8
    for name, kv_heads in (("mha", 8), ("gqa", 2), ("mqa", 1)):
        assert m[f"tiny.{name}.cached_tokens"] == tokens
        assert m[f"tiny.{name}.measured_bytes"] == layers * tokens * 2 * kv_heads * head_dim * 2, name
    # sliding window 4: each layer keeps window - 1 = 3 tokens between steps
    assert m["tiny.sliding.cached_tokens"] == 3
    assert m["tiny.sliding.measured_bytes"] == layers * 3 * 2 * 2 * head_dim * 2
    # MLA keeps the latent: (kv_lora_rank 16 + qk_rope_head_dim 4) per token per layer ...
    assert m["tiny.mla.measured_bytes"] == m["tiny.mla.latent_bytes"] == layers * tokens * (16 + 4) * 2
    # ... not 8 heads x (nope 8 + rope 4 + v 8) rebuilt
    assert m["tiny.mla.decompressed_bytes"] == layers * tokens * 8 * (8 + 4 + 8) * 2
    mla = result.numbers.tiny["mla"]
    assert (mla.kv_heads, mla.key_shape, mla.value_shape) == (1, "1 x 1 x 10 x 16", "1 x 1 x 10 x 4")
    assert ["mla", 1, "1 x 1 x 10 x 16", "1 x 1 x 10 x 4"] in [row[:4] for row in result.tables[0].rows]


def test_a_forward_with_use_cache_keeps_the_same_bytes():
    """Independent of generate: one forward pass over the prompt fills a cache of prompt-many tokens."""
    import torch
    import transformers

    for name, (config, class_name) in tiny_kv_models().items():
        torch.manual_seed(0)
        model = getattr(transformers, class_name)(config).eval().to(torch.bfloat16)
        with torch.no_grad():
            out = model(torch.randint(0, 128, (2, 3)), use_cache=True)  # batch 2, 3 tokens (inside any window)
        bytes_ = sum(layer.keys.nbytes + layer.values.nbytes for layer in out.cache.layers)
        per_token = {"mha": 2 * 8 * 8, "gqa": 2 * 2 * 8, "mqa": 2 * 8, "sliding": 2 * 2 * 8, "mla": 16 + 4}[name]
        assert bytes_ == 2 * 2 * 3 * per_token * 2, name  # layers x batch x tokens x numbers x bf16


def test_published_bytes_per_token(result):
    m = result.metrics
    # layers x 2 (K, V) x kv_heads x head_dim 128 x 2 bytes
    assert m["published.llama-2-7b.kv_bytes_per_token_bf16"] == 32 * 2 * 32 * 128 * 2 == 524_288  # 0.5 MiB
    assert m["published.llama-2-70b.kv_bytes_per_token_bf16"] == 80 * 2 * 8 * 128 * 2 == 327_680
    assert m["published.llama-3-8b.kv_bytes_per_token_bf16"] == 32 * 2 * 8 * 128 * 2 == 131_072
    assert m["published.mistral-7b.kv_bytes_per_token_bf16"] == 131_072
    assert m["published.deepseek-v3.kv_bytes_per_token_bf16"] == (512 + 64) * 61 * 2 == 70_272
    assert m["published.deepseek-v3.kv_bytes_per_token_if_mha"] == 61 * 128 * (128 + 64 + 128) * 2
    assert m["published.llama-2-70b.mha_over_this"] == 8 and m["published.llama-3-8b.mha_over_this"] == 4


def test_cache_at_context_against_weights(result):
    m = result.metrics
    assert m["published.llama-2-7b.kv_bytes_at_context"] == 524_288 * 4096 == 2 * 1024**3
    assert m["published.llama-2-7b.weights_bytes_bf16"] == 6_738_415_616 * 2
    assert m["published.llama-2-7b.cache_over_weights"] == pytest.approx(2 * 1024**3 / (6_738_415_616 * 2))
    assert m["published.llama-2-7b.tokens_for_cache_to_equal_weights"] == pytest.approx(6_738_415_616 * 2 / 524_288)
    assert m["published.deepseek-v3.weights_bytes_bf16"] == 671_026_404_352 * 2
    probe = find_probe(None, "kv-cache")
    long = run_probe(None, probe, probe.make_options(context=32768, batch=2), cache=False).metrics
    assert long["published.llama-3-8b.kv_bytes_at_context"] == 131_072 * 32768 * 2
    assert long["published.mistral-7b.cache_tokens"] == 4096  # the sliding window caps it
    assert long["published.mistral-7b.kv_bytes_at_context"] == 131_072 * 4096 * 2
    assert "published.mistral-7b.tokens_for_cache_to_equal_weights" not in long


def test_verdicts_on_both_sides(result):
    from n00bqa.probes.base import report_with_verdicts

    opts = find_probe(None, "kv-cache").make_options()
    numbers = result.numbers
    finding_with(result, "they are equal", "(0 of 5 differ; table)")
    finding_stating(result, "tiny.mla.measured_bytes", "so it keeps: latent")
    tiny = numbers.tiny
    broken = report(dataclasses.replace(numbers, tiny={**tiny, "gqa": dataclasses.replace(tiny["gqa"], equal=False)}),
                    opts)
    assert sum("NOT all equal, model by model (1 of 5 differ" in f for f in broken.findings) == 1
    assert "is NOT all equal to layers" in broken.summary
    other = dataclasses.replace(numbers, tiny={**tiny, "mla": dataclasses.replace(
        tiny["mla"], measured_bytes=tiny["mla"].decompressed_bytes, keeps="decompressed K/V")})
    assert sum("(decompressed K/V); it does NOT match" in f for f in report(other, opts).findings) == 1
    # a generation shorter than the window - 1 drops nothing, and says so
    short = dataclasses.replace(numbers, tiny={**tiny, "sliding": dataclasses.replace(
        tiny["sliding"], generated_tokens=2, cached_tokens=2)})
    made, recorded = report_with_verdicts(report, short, opts)
    assert sum("the cache has dropped no token yet: 2 tokens went through and each layer keeps 2 (fewer than"
               in f for f in made.findings) == 1
    assert [v.word for v in recorded if v.name == "tokens kept"] == ["has dropped no token yet"]


def test_recorded_verdicts_follow_from_the_run(result):
    """Each verdict the default run worded, its value recomputed here from the metrics."""
    m = result.metrics
    by_name = verdicts_by_name(result)
    [equal] = by_name["models that differ"]
    assert (equal.value, equal.threshold, equal.word) == (0, 0, "equal")
    [shrink] = by_name["ratio tolerance"]
    gqa = m["tiny.mha.bytes_per_token"] / m["tiny.gqa.bytes_per_token"]
    mqa = m["tiny.mha.bytes_per_token"] / m["tiny.mqa.bytes_per_token"]
    assert (gqa, mqa) == (8 / 2, 8 / 1) and shrink.value == 0 and shrink.word == "shrinks by"
    [dropped] = by_name["tokens kept"]  # 10 tokens went through a window of 4, which keeps 3
    assert (dropped.value, dropped.threshold) == (m["tiny.sliding.generated_tokens"], m["tiny.sliding.cached_tokens"])
    assert (dropped.value, dropped.threshold, dropped.word) == (10, 3, "drops old tokens")
    [latent] = by_name["bytes off the latent"]
    assert latent.value == abs(m["tiny.mla.measured_bytes"] - m["tiny.mla.latent_bytes"]) == 0
    assert sorted(v.value for v in by_name["MHA / this"]) == sorted(
        m[f"published.{k}.mha_over_this"] for k in ("llama-2-7b", "llama-2-70b", "llama-3-8b", "mistral-7b",
                                                     "smollm2-135m"))
    [window] = by_name["the weights"]  # mistral-7b: a full 4,096-token window is under its weights
    assert window.value == pytest.approx(131_072 * 4096 / m["published.mistral-7b.weights_bytes_bf16"])
    assert window.word == "caps its cache before that"
    assert problems(result) == []


def test_old_metric_names_still_resolve(result):
    probe = find_probe(None, "kv-cache")
    for old in ("llama-2-7b.kv_bytes_per_token_bf16", "deepseek-v3.kv_bytes_per_token_bf16"):
        assert probe.metric_name(old) in result.metrics
    assert all(p.metric in result.metrics for p in probe.predictions)


def test_default_output_is_whole(result):
    assert_output_whole(result)


@pytest.mark.parametrize("options, message", [({"context": 0}, "--context"), ({"batch": 0}, "--batch"),
                                              ({"prompt": 100}, "--prompt"), ({"new_tokens": 0}, "--new-tokens")])
def test_bad_options(options, message):
    with pytest.raises(ProbeError, match=message):
        find_probe(None, "kv-cache").make_options(**options)


def test_the_installed_smollm2_beside_the_published_configs(result):
    m = result.metrics  # SmolLM2-135M: 30 layers, 3 K/V heads of 64 (GQA 9/3), 134,515,008 parameters
    assert m["published.smollm2-135m.kv_bytes_per_token_bf16"] == 30 * 2 * 3 * 64 * 2 == 23_040
    assert m["published.smollm2-135m.mha_over_this"] == 3
    assert m["published.smollm2-135m.weights_bytes_bf16"] == 134_515_008 * 2
    finding_stating(result, "published.smollm2-135m.kv_bytes_per_token_bf16", "GQA 9/3")
