"""After a reveal the quiz shows what states the revealed number (issue 26 item 9): the finding that
prints it and names the metric's record, not another record's finding whose number matches at some
scale, nor the summary when a table row holds it."""

from __future__ import annotations

from n00bqa.probes.base import ProbeResult, Table
from n00bqa.study_loop.quiz_steps import explaining_finding

LLAMA = 524_288  # Llama-2-7B: 32 layers x 2 (K, V) x 4096 x 2 bytes of bf16 per token
assert LLAMA == 32 * 2 * 4096 * 2


def result(findings, tables=()):
    return ProbeResult("kv-cache", "kv-cache", "The summary.", list(findings), list(tables), {}, {}, 0.1)


TINY = "The tiny model's cache for 1,024 tokens is 512 KiB, growing by one row per token."  # 512 KiB == LLAMA bytes
TABLE = Table("Published models, per token", ["model", "layers", "KV bytes (bf16)"],
              [["tiny", 2, 512], ["Llama-2-7B", 32, LLAMA], ["DeepSeek-V3", 61, 70_272]])


def test_the_finding_naming_the_metrics_record_wins_over_a_scaled_match():
    llama = f"Llama-2-7B keeps {LLAMA:,} bytes per token in bf16: 32 layers, K and V, 4,096 wide."
    found = explaining_finding(result([TINY, llama]), LLAMA, "llama-2-7b.kv_bytes_per_token_bf16")
    assert found == llama


def test_a_table_row_naming_the_record_comes_before_another_records_finding():
    found = explaining_finding(result([TINY], [TABLE]), LLAMA, "llama-2-7b.kv_bytes_per_token_bf16")
    assert found == f"Published models, per token: model Llama-2-7B, layers 32, KV bytes (bf16) {LLAMA}."
    assert str(LLAMA) in found  # it states the number revealed


def test_the_summary_only_when_nothing_states_the_number():
    assert explaining_finding(result([TINY], [TABLE]), 786_432, "gpt2.embedding") == "The summary."
    size = Table("Parameters by part", ["part", "parameters"], [["wte", 38_597_376], ["wpe", 786_432]])
    found = explaining_finding(result(["gpt2 has 124,439,808 parameters."], [size]), 786_432, "gpt2.wpe")
    assert found == "Parameters by part: part wpe, parameters 786432."
