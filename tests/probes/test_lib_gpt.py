"""lib/gpt.py: our GPT against transformers' GPT-2 with the same weights (logits and parameter count),
the causal mask, the fused and written-out attention paths, weight tying and the step-0 loss."""

from __future__ import annotations

import math

import pytest
import torch

from n00bqa.probes.lib.counting import count_parameters
from n00bqa.probes.lib.gpt import GPT, GPTConfig, config_for
from n00bqa.probes.lib.models import GPTShape


def test_our_gpt_computes_what_transformers_gpt2_computes():
    """GPT-2's weights copied into our GPT (Conv1D stores W transposed) give the same logits."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(vocab_size=50, n_positions=16, n_embd=32, n_layer=2, n_head=4, resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0, activation_function="gelu")
    hf = GPT2LMHeadModel(cfg).eval()
    ours = GPT(GPTConfig(block_size=16, vocab_size=50, n_layer=2, n_head=4, n_embd=32, bias=True)).eval()
    hf_state = hf.state_dict()
    transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            source = hf_state[name]
            tensor.copy_(source.T if name.endswith(transposed) else source)
    idx = torch.randint(50, (2, 16))
    ours_logits, _ = ours(idx)
    assert torch.allclose(ours_logits, hf(idx).logits, atol=1e-5)


@pytest.mark.parametrize("flash", [True, False])
def test_attention_is_causal_and_both_paths_agree(flash):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=12, vocab_size=20, n_layer=2, n_head=2, n_embd=16, flash=flash)).eval()
    idx = torch.randint(20, (1, 12))
    changed = idx.clone()
    changed[0, 8:] = (changed[0, 8:] + 1) % 20  # rewrite the future
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.equal(a[:, :8], b[:, :8])  # positions before 8 never saw it
    other = GPT(GPTConfig(block_size=12, vocab_size=20, n_layer=2, n_head=2, n_embd=16, flash=not flash))
    other.load_state_dict(model.state_dict())
    assert torch.allclose(other.eval()(idx)[0], a, atol=1e-5)


def test_gpt2_small_has_the_parameters_transformers_gives_it():
    from transformers import GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        ours = GPT(GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257, bias=True))
        hf = GPT2LMHeadModel(GPT2Config())
    hf_count = sum(p.numel() for p in hf.parameters())  # transformers ties wte and lm_head too: once
    assert ours.get_num_params(non_embedding=False) == count_parameters(ours) == hf_count == 124_439_808
    assert ours.get_num_params() == hf_count - 1024 * 768  # nanoGPT's print leaves out the position table


def test_the_output_layer_is_the_token_table():
    model = GPT(GPTConfig(block_size=8, vocab_size=30, n_layer=1, n_head=2, n_embd=16))
    assert model.lm_head.weight is model.transformer.wte.weight
    assert model.get_num_params(non_embedding=False) == sum(
        t.numel() for t in {id(p): p for p in model.parameters()}.values())


def test_step_zero_loss_is_near_ln_vocab():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=101, n_layer=1, n_head=2, n_embd=32)).eval()
    idx, targets = torch.randint(101, (4, 16)), torch.randint(101, (4, 16))  # targets unrelated to the inputs:
    with torch.no_grad():  # (with targets = inputs the tied table favours the input token itself)
        _, loss = model(idx, targets)
    assert float(loss) == pytest.approx(math.log(101), abs=0.05)


def test_generate_appends_tokens_from_the_vocabulary():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=4, vocab_size=7, n_layer=1, n_head=1, n_embd=8)).eval()
    out = model.generate(torch.zeros(2, 1, dtype=torch.long), 10)  # longer than the context: it slides
    assert out.shape == (2, 11) and int(out.max()) < 7 and int(out.min()) >= 0


def test_config_for_takes_the_shape_options():
    config = config_for(GPTShape(n_layer=3, n_head=2, n_embd=10), 16, 40, flash=False)
    assert (config.n_layer, config.n_head, config.n_embd, config.block_size, config.vocab_size, config.flash) == (
        3, 2, 10, 16, 40, False)
