"""variants: every count against a closed form from the config, every published figure against the
papers, every gap's terms against their own formula, and each verdict on both sides of its threshold."""

from __future__ import annotations

import pytest

from n00bqa.errors import ProbeError
from n00bqa.probes import find_probe
from n00bqa.probes.base import unexplained_numbers
from n00bqa.probes.runs import run_probe
from n00bqa.probes.variants import compare, parse_figure, read_design, round_to_figure
from tests.support.probes import assert_output_whole, finding_with
from tests.support.runs import default_run


@pytest.fixture(scope="module")
def result(smollm2):  # smollm2: the session's one conversion, whose config the default run counts
    probe = find_probe(None, "variants")
    return default_run(probe.name)


def decoder_closed_form(V, d, L, heads, kv, hd, ff, tied=False, qkv_bias=False, experts=1):
    """A Llama-style decoder: q, k, v, o projections, `experts` SwiGLU/GeGLU MLPs (+ a router when
    more than one), two RMSNorms per layer, a final norm, the token table and (untied) an output head."""
    attention = d * heads * hd + 2 * d * kv * hd + heads * hd * d + (heads * hd + 2 * kv * hd if qkv_bias else 0)
    mlp = experts * 3 * d * ff + (experts * d if experts > 1 else 0)
    return V * d * (1 if tied else 2) + L * (attention + mlp + 2 * d) + d


def test_totals_equal_closed_forms(result):
    m = result.metrics
    d, V, P, L = 768, 50257, 1024, 12  # gpt2: wte, wpe, 12 blocks (2 LN, c_attn, c_proj, c_fc, mlp c_proj), ln_f
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    assert m["gpt2.total"] == V * d + P * d + L * block + 2 * d == 124_439_808
    # bert: word, position, token-type tables + LN; 12 layers (q, k, v, o + LN, intermediate, output + LN); pooler
    V, P, ff = 30522, 512, 3072
    layer = 4 * (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d) + 2 * d
    assert m["bert-base-uncased.total"] == (V + P + 2) * d + 2 * d + 12 * layer + d * d + d == 109_482_240
    # t5-small: one shared table (tied head); 6 encoder layers (self-attn, FF, 2 norms), 6 decoder layers
    # (self-attn, cross-attn, FF, 3 norms), a 32 x 8 relative bias table in each stack, 2 final norms.
    d, V, inner, ff, h = 512, 32128, 512, 2048, 8
    enc, dec = 4 * d * inner + 2 * d * ff + 2 * d, 8 * d * inner + 2 * d * ff + 3 * d
    assert m["t5-small.total"] == V * d + 6 * enc + 6 * dec + 2 * 32 * h + 2 * d == 60_506_624
    assert m["llama-2-7b.total"] == decoder_closed_form(32000, 4096, 32, 32, 32, 128, 11008) == 6_738_415_616
    assert m["llama-2-70b.total"] == decoder_closed_form(32000, 8192, 80, 64, 8, 128, 28672) == 68_976_648_192
    assert m["llama-3-8b.total"] == decoder_closed_form(128256, 4096, 32, 32, 8, 128, 14336) == 8_030_261_248
    assert m["mistral-7b.total"] == decoder_closed_form(32000, 4096, 32, 32, 8, 128, 14336) == 7_241_732_096
    assert m["qwen2-7b.total"] == decoder_closed_form(152064, 3584, 28, 28, 4, 128, 18944, qkv_bias=True)
    assert m["gemma-7b.total"] == decoder_closed_form(256000, 3072, 28, 16, 16, 256, 24576, tied=True)
    assert m["mixtral-8x7b.total"] == decoder_closed_form(32000, 4096, 32, 32, 8, 128, 14336, experts=8)


def deepseek_v3_by_hand():
    """DeepSeek-V3 from its config: MLA attention, 3 dense layers, 58 MoE layers (256 routed + 1 shared)."""
    h, V, heads = 7168, 129280, 128
    mla = (h * 1536 + 1536 + 1536 * heads * (128 + 64)  # q: down to 1536, norm, up to 128 x (nope 128 + rope 64)
           + h * (512 + 64) + 512 + 512 * heads * (128 + 128)  # kv: down to 512 (+ rope 64), norm, up to k_nope + v
           + heads * 128 * h)  # o_proj
    expert = 3 * h * 2048
    dense_layer = mla + 3 * h * 18432 + 2 * h
    moe_layer = mla + 257 * expert + 256 * h + 2 * h  # 256 routed + 1 shared expert, the router
    total = 2 * V * h + 3 * dense_layer + 58 * moe_layer + h
    active = total - 58 * 248 * expert
    return total, active, moe_layer, expert


def test_moe_active_parameters(result):
    m = result.metrics
    expert = 3 * 4096 * 14336
    assert m["mixtral-8x7b.active"] == m["mixtral-8x7b.total"] - 32 * 6 * expert == 12_879_925_248
    assert m["mixtral-8x7b.routed_expert_params"] == expert
    total, active, _, expert = deepseek_v3_by_hand()
    assert m["deepseek-v3.total"] == total == 671_026_404_352
    assert m["deepseek-v3.active"] == active
    assert m["deepseek-v3.routed_expert_params"] == expert
    assert m["deepseek-v3.idle_experts_per_layer"] == 248
    assert m["deepseek-v3.active_fraction"] == pytest.approx(active / total)
    assert "llama-3-8b.active" not in m  # dense models have no active count


def test_published_figures_are_the_papers(result):
    m = result.metrics
    published = {"gpt2": 124e6, "bert-base-uncased": 110e6, "t5-small": 60e6, "llama-2-7b": 7e9, "llama-2-70b": 70e9,
                 "llama-3-8b": 8e9, "mistral-7b": 7.3e9, "qwen2-7b": 7.07e9, "gemma-7b": 786_825_216 + 7_751_248_896,
                 "mixtral-8x7b": 46.7e9, "deepseek-v3": 671e9}
    for name, figure in published.items():
        assert m[f"{name}.published"] == pytest.approx(figure, rel=1e-12), name
    assert m["mixtral-8x7b.published_active"] == pytest.approx(12.9e9)
    assert m["deepseek-v3.published_active"] == pytest.approx(37e9)


def test_every_gap_is_explained_by_its_computed_terms(result):
    m = result.metrics
    explained = {k: v for k, v in m.items() if k.endswith(".explained")}
    assert len(explained) == 15 and all(explained.values()), explained  # 14 published + the installed SmolLM2
    assert m["smollm2-135m.total"] == m["smollm2-135m.published"] == 134_515_008
    # gemma: 128 padded vocabulary rows x hidden 3072; the paper's non-embedding count is ours exactly.
    g = "gemma-7b.comparisons.total."
    assert m[g + "terms.padded_vocab"] == (256_128 - 256_000) * 3072
    assert m[g + "adjusted"] == 8_538_074_112
    assert m[g + "facts.counted_non_embedding"] == m[g + "facts.paper_non_embedding"] == 7_751_248_896
    # qwen2: the blog's 7.07B has no output head (152,064 x 3584).
    assert m["qwen2-7b.comparisons.total.terms.no_output_head"] == -152064 * 3584
    assert round(m["qwen2-7b.comparisons.total.adjusted"] / 1e7) == 707
    # mistral: 7.2417B is 7.2B to the nearest, 7.3B rounded up.
    assert m["mistral-7b.comparisons.total.nearest_rounded"] == pytest.approx(7.2e9)
    assert m["mistral-7b.comparisons.total.adjusted_rounded"] == pytest.approx(7.3e9)
    # deepseek active: 37B with no input table (36.6B, as DeepSeek's README_WEIGHTS says).
    _, active, moe_layer, _ = deepseek_v3_by_hand()
    assert m["deepseek-v3.comparisons.active.terms.no_input_table"] == -129280 * 7168
    assert round((active - 129280 * 7168) / 1e8) == 366


def test_deepseek_checkpoint_equals_hugging_face_safetensors_metadata(result):
    m = result.metrics
    c = "deepseek-v3.comparisons.hf_checkpoint."
    h, V = 7168, 129280
    total, _, moe_layer, _ = deepseek_v3_by_hand()
    assert m[c + "terms.mtp_module"] == moe_layer + 2 * h * h + 3 * h  # layer 61, eh_proj, enorm/hnorm/head norm
    assert m[c + "terms.mtp_shared_copies"] == 2 * V * h
    assert m[c + "terms.router_bias_buffers"] == 59 * 256  # one e_score_correction_bias per MoE layer
    # one float32 per 128 x 128 block: per MLA layer q_a 12x56, q_b 192x12, kv_a 5x56, kv_b 256x4, o 56x128;
    # dense MLP 3 x 144x56; each expert (257) 3 x 16x56
    mla_scales = 12 * 56 + 192 * 12 + 5 * 56 + 256 * 4 + 56 * 128
    assert m[c + "terms.fp8_block_scales"] == 62 * mla_scales + 3 * 3 * 144 * 56 + 59 * 257 * 3 * 16 * 56
    # Hugging Face's metadata for deepseek-ai/DeepSeek-V3: 684,531,386,000 = F8_E4M3 680,571,043,840
    # + BF16 3,918,786,560 + F32 41,555,600.
    assert m[c + "adjusted"] == 684_531_386_000
    assert m[c + "facts.counted_fp8"] == 680_571_043_840
    assert m[c + "facts.counted_bf16"] == 3_918_786_560
    assert m[c + "facts.counted_f32"] == 41_555_600


def test_design_table(result):
    design = next(t for t in result.tables if t.title.startswith("Design choices"))
    rows = {row[0]: row[1:] for row in design.rows}
    assert rows["gpt2"] == ["MHA 12", "learned", "pre-LN", "GELU", "yes", "-"]
    assert rows["bert-base-uncased"] == ["MHA 12", "learned", "post-LN", "GELU", "-", "-"]
    assert rows["t5-small"] == ["MHA 8", "relative", "pre-RMS", "RELU", "yes", "-"]
    assert rows["llama-2-70b"] == ["GQA 64/8", "RoPE", "pre-RMS", "SwiGLU", "no", "-"]
    assert rows["gemma-7b"] == ["MHA 16", "RoPE", "pre-RMS", "GeGLU", "yes", "-"]
    assert rows["mixtral-8x7b"][-1] == "8 top-2"
    assert rows["deepseek-v3"][0] == "MLA 128" and rows["deepseek-v3"][-1] == "256+1 top-8"
    kinds = finding_with(result, "Kinds: ")
    assert result.numbers["deepseek-v3"].design.attention == "MLA 128"
    assert "encoder-only (no LM head, every token sees every other): bert-base-uncased;" in kinds
    assert "encoder-decoder (the decoder cross-attends to the encoder): t5-small;" in kinds


def test_mqa_is_read_from_one_kv_head():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=1)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    assert read_design("tiny", model, config, []).attention == "MQA 4/1"


@pytest.mark.parametrize("label, value, digits", [("124M", 124e6, 3), ("110M", 110e6, 2), ("70B", 70e9, 1),
                                                  ("7.07B", 7.07e9, 3), ("12.9B", 12.9e9, 3), ("8,538", 8538, 0)])
def test_parse_figure(label, value, digits):
    assert parse_figure(label) == (pytest.approx(value), digits)


def test_rounding_verdict_on_both_sides():
    assert compare(124_439_808, "124M", "", {}, {}).explained  # 124.44M -> 124M
    assert not compare(124_600_000, "124M", "", {}, {}).explained  # 124.6M -> 125M
    assert not compare(7_241_732_096, "7.3B", "", {}, {}).explained  # to the nearest: 7.2B
    assert compare(7_241_732_096, "7.3B", "", {}, {}, up=True).explained
    assert compare(100, "8,538", "", {"t": 8438}, {}).explained  # an exact figure needs the exact sum
    assert not compare(100, "8,538", "", {"t": 8437}, {}).explained
    assert round_to_figure(68_976_648_192, 1) == 70e9


def test_default_output_is_whole(result):
    assert_output_whole(result)


def test_subset_and_bad_model():
    probe = find_probe(None, "variants")
    small = run_probe(None, probe, probe.make_options(models="gpt2, t5-small"), cache=False)
    assert {k.split(".")[0] for k in small.metrics} == {"gpt2", "t5-small"}
    assert unexplained_numbers(small) == []
    with pytest.raises(ProbeError, match="llama-4"):
        probe.make_options(models="gpt2,llama-4")


def test_every_verdict_is_recorded_with_its_numbers_printed(result):
    from tests.support.recorded_verdicts import verdict_words

    words = verdict_words(result)
    assert len(words) == 15 + 4 + 2  # one per comparison, a side for each of the 4 with terms, the dtypes, the summary
    # qwen2's total and deepseek's active count above their figures; gemma's and deepseek's checkpoint below
    assert words.count(("published figure", "above")) == 2 == words.count(("published figure", "below"))
    assert ("relative gap at the figure's digits", "is the count rounded up") in words  # mistral's 7.3B
    assert words.count(("exact", "equal to")) == 3  # gemma's paper table, DeepSeek's checkpoint, SmolLM2's card
    assert ("dtypes that differ", "each equal.") in words
    assert words[-1] == ("unexplained gaps", "every gap is rounding or a tensor the figure counts differently")


def test_a_gap_that_does_not_round_says_so_in_the_finding_the_table_and_the_summary():
    import dataclasses

    from n00bqa.probes.base import report_with_verdicts
    from n00bqa.probes.variants import report

    probe = find_probe(None, "variants")
    opts = probe.make_options(models="gpt2")
    small = run_probe(None, probe, opts, cache=False)
    c = small.numbers["gpt2"].comparisons["total"]
    wrong = compare(124_600_000, "124M", c.source, {}, {})  # 124.6M -> 125M at 3 digits
    numbers = {"gpt2": dataclasses.replace(small.numbers["gpt2"], comparisons={"total": wrong})}
    made, recorded = report_with_verdicts(report, numbers, opts)
    assert [v.word for v in recorded] == ["does NOT round to", "1 gap(s) NOT explained (UNEXPLAINED in the table)"]
    assert "does NOT round to 124M at the 3 digits the figure shows (125.000M)" in made.findings[0]
    assert made.tables[0].rows[0][-1] == "UNEXPLAINED"
