"""The published model configurations, in one place, and how the probes build models from them.

Each entry holds the values of a model's published config.json that fix a parameter's shape (the
rest, like dropout or rope_theta, changes no count), with the model class its checkpoint loads:

- `published_configs()`: name -> (config, class name) for the twelve architectures the probes count;
- `build_model(config, class_name, device)`: the model on `meta` (real shapes, no memory, no
  download) or, for a small config, on the CPU with random weights;
- `twin_config(name, config)`: a tiny twin of a published model (small widths, same class, tying
  and position settings), for a backward pass a laptop can run;
- `model_positions(config)`: the positions its config states (a table's rows, or the length it was
  trained at);
- `reads_length(name, config, class_name, T)`: whether a tiny twin runs a T-token forward (measured);
- `folder_config(path)`: the config and class of a local Hugging Face folder (`--model PATH`);
- `tiny_kv_models()`: small decoders that differ only in how they keep K and V (MHA, GQA, MQA, a
  sliding window, MLA), for generating with a real cache.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from n00bqa.errors import ProbeError

# The architectures param-count, grad-rows and forward-flops measure (variants counts the rest too).
SIZE_MODELS = ("gpt2", "bert-base-uncased", "t5-small", "llama-2-7b", "deberta-v3-base")
TWIN_VOCAB = 512  # the twins' vocabulary: far more rows than a short batch can use


def published_configs() -> dict[str, tuple[Any, str]]:
    """name -> (config, model class name), from each model's published config.json."""
    import transformers as tf

    return {
        # openai-community/gpt2: learned positions, pre-LayerNorm, GELU, LM head tied to the token table wte.
        "gpt2": (tf.GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
                 "GPT2LMHeadModel"),
        # google-bert/bert-base-uncased: an encoder; the published 109,482,240 includes the pooler.
        "bert-base-uncased": (tf.BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                                            num_attention_heads=12, intermediate_size=3072,
                                            max_position_embeddings=512, type_vocab_size=2), "BertModel"),
        # google-t5/t5-small: encoder + decoder share one token table, which the LM head reuses. Its
        # positions are relative buckets (no table of absolute positions); n_positions 512 is the length
        # it was trained at.
        "t5-small": (tf.T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6,
                                 num_decoder_layers=6, num_heads=8, relative_attention_num_buckets=32,
                                 feed_forward_proj="relu", tie_word_embeddings=True, n_positions=512),
                     "T5ForConditionalGeneration"),
        # meta-llama/Llama-2-7b-hf: untied LM head, RMSNorm, SwiGLU MLP, no biases, rotary positions.
        "llama-2-7b": (tf.LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008,
                                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
                                      max_position_embeddings=4096, rms_norm_eps=1e-5,
                                      tie_word_embeddings=False), "LlamaForCausalLM"),
        # meta-llama/Llama-2-70b-hf: grouped-query attention, 64 query heads sharing 8 K/V heads.
        "llama-2-70b": (tf.LlamaConfig(vocab_size=32000, hidden_size=8192, intermediate_size=28672,
                                       num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                                       max_position_embeddings=4096, tie_word_embeddings=False),
                        "LlamaForCausalLM"),
        # meta-llama/Meta-Llama-3-8B: a 128,256-token vocabulary, GQA 32/8.
        "llama-3-8b": (tf.LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                      num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                      max_position_embeddings=8192, rope_theta=500000.0,
                                      tie_word_embeddings=False), "LlamaForCausalLM"),
        # mistralai/Mistral-7B-v0.1: GQA 32/8 and a 4,096-token sliding window.
        "mistral-7b": (tf.MistralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                        sliding_window=4096, max_position_embeddings=32768,
                                        tie_word_embeddings=False), "MistralForCausalLM"),
        # Qwen/Qwen2-7B: GQA 28/4, biases on q/k/v only, a 152,064-row table.
        "qwen2-7b": (tf.Qwen2Config(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                                    num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                                    max_position_embeddings=131072, tie_word_embeddings=False),
                     "Qwen2ForCausalLM"),
        # google/gemma-7b: head_dim 256 (16 heads x 256 = 4096 > hidden 3072), GeGLU, tied head.
        "gemma-7b": (tf.GemmaConfig(vocab_size=256000, hidden_size=3072, intermediate_size=24576,
                                    num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=16,
                                    head_dim=256, max_position_embeddings=8192,
                                    hidden_activation="gelu_pytorch_tanh"), "GemmaForCausalLM"),
        # mistralai/Mixtral-8x7B-v0.1: 8 SwiGLU experts per layer, 2 chosen per token.
        "mixtral-8x7b": (tf.MixtralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                          num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                                          num_local_experts=8, num_experts_per_tok=2,
                                          max_position_embeddings=32768, tie_word_embeddings=False),
                         "MixtralForCausalLM"),
        # deepseek-ai/DeepSeek-V3: MLA (a 512-wide latent for K/V, 1536 for Q), 3 dense layers, then 58
        # MoE layers of 256 routed experts (8 chosen) + 1 shared expert.
        "deepseek-v3": (tf.DeepseekV3Config(vocab_size=129280, hidden_size=7168, intermediate_size=18432,
                                            moe_intermediate_size=2048, num_hidden_layers=61,
                                            first_k_dense_replace=3, n_routed_experts=256, n_shared_experts=1,
                                            num_experts_per_tok=8, n_group=8, topk_group=4,
                                            num_attention_heads=128, num_key_value_heads=128, q_lora_rank=1536,
                                            kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                                            v_head_dim=128, max_position_embeddings=163840,
                                            tie_word_embeddings=False), "DeepseekV3ForCausalLM"),
        # microsoft/deberta-v3-base: 128k vocabulary, no absolute positions, relative attention.
        "deberta-v3-base": (tf.DebertaV2Config(vocab_size=128100, hidden_size=768, num_hidden_layers=12,
                                               num_attention_heads=12, intermediate_size=3072,
                                               max_position_embeddings=512, type_vocab_size=0,
                                               position_biased_input=False, relative_attention=True,
                                               pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm",
                                               share_att_key=True, position_buckets=256,
                                               max_relative_positions=-1, layer_norm_eps=1e-7),
                            "DebertaV2Model"),
    }


def published_architectures(names: tuple[str, ...] = SIZE_MODELS) -> list[tuple[str, Any, str]]:
    """(name, config, model class name) for each of `names`, in that order."""
    configs = published_configs()
    return [(name, *configs[name]) for name in names]


def build_model(config: Any, class_name: str | None = None, device: str = "meta") -> Any:
    """The model of `config` in eval mode; on `meta`: real shapes, no memory, no weights.

    Without a class name, transformers' AutoModel picks the bare model for the config.
    """
    import torch
    import transformers
    from transformers.utils import logging as hf_logging

    model_class = getattr(transformers, class_name, None) if class_name else None
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a twin's small vocabulary makes config checks chatty
    try:
        with torch.device(device):
            model = model_class(config) if model_class is not None else transformers.AutoModel.from_config(config)
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval()


# The tiny twins: each published config with small widths, depth and vocabulary, and everything that
# decides which rows get gradient kept as published (class, tying, positions, relative buckets).
TWIN_SHRINK = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, bos_token_id=TWIN_VOCAB - 1, eos_token_id=TWIN_VOCAB - 1),
    "bert-base-uncased": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    "t5-small": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4),
    "llama-2-7b": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=4, head_dim=8),
    "deberta-v3-base": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
}
LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers", "num_decoder_layers")


def twin_config(name: str, config: Any) -> Any:
    """The tiny twin's config: a built-in's TWIN_SHRINK, or (any other config) the same model with 1 layer."""
    if name in TWIN_SHRINK:
        return type(config)(**{**config.to_dict(), "vocab_size": TWIN_VOCAB, **TWIN_SHRINK[name]})
    one_layer = {key: 1 for key in LAYER_FIELDS if isinstance(getattr(config, key, None), int)}
    return type(config)(**{**config.to_dict(), **one_layer})


def model_positions(config: Any) -> int | None:
    """The positions its config states: a position table's rows, or (relative positions, RoPE) only the
    length it was trained at. What it can read is measured by `reads_length`."""
    for key in ("n_positions", "max_position_embeddings"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def reads_length(name: str, config: Any, class_name: str | None, T: int) -> str | None:
    """Run a tiny twin of `config` (same class and position scheme, see `twin_config`) forward on T tokens.

    Returns None when it runs and every output is finite, else why not: the first line of the error
    (a 512-row position table indexed at 512, ...) or "non-finite outputs".
    """
    import torch

    twin = build_model(twin_config(name, config), class_name, device="cpu")
    ids = torch.randint(0, twin.config.vocab_size, (1, T), generator=torch.Generator().manual_seed(0))  # (1, T)
    inputs = {"input_ids": ids}
    if getattr(twin.config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids  # T target tokens too
    try:
        with torch.no_grad():
            out = twin(**inputs)[0]  # logits or hidden states: (1, T, ...)
    except (IndexError, RuntimeError, ValueError) as exc:
        return str(exc).splitlines()[0] or type(exc).__name__
    return None if bool(torch.isfinite(out).all()) else "non-finite outputs"


def folder_config(model: str | None) -> tuple[Path, Any, str | None]:
    """(folder, config, class name) of a local Hugging Face folder; None is the bundled MiniLM.

    Raises ProbeError naming the file when its config.json cannot be read.
    """
    from transformers import AutoConfig

    from n00bqa.probes.lib.models import resolve_model_dir

    folder = resolve_model_dir(model)
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read {str(folder / 'config.json')!r}: {str(exc).splitlines()[0]}") from exc
    return folder, config, (getattr(config, "architectures", None) or [None])[0]


def tiny_kv_models() -> dict[str, tuple[Any, str]]:
    """name -> (config, model class): the same small decoder with 8 query heads, differing only in K/V."""
    from transformers import DeepseekV3Config, LlamaConfig, MistralConfig

    common = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=8,
                  max_position_embeddings=256, eos_token_id=None)
    return {
        "mha": (LlamaConfig(num_key_value_heads=8, **common), "LlamaForCausalLM"),
        "gqa": (LlamaConfig(num_key_value_heads=2, **common), "LlamaForCausalLM"),
        "mqa": (LlamaConfig(num_key_value_heads=1, **common), "LlamaForCausalLM"),
        # a window shorter than the generation, so the cache must drop old tokens
        "sliding": (MistralConfig(num_key_value_heads=2, sliding_window=4, **common), "MistralForCausalLM"),
        # MLA: K/V from a 16-wide latent; each head's key = 8 numbers from the latent + 4 rotated (shared)
        "mla": (DeepseekV3Config(kv_lora_rank=16, q_lora_rank=32, qk_nope_head_dim=8, qk_rope_head_dim=4,
                                 v_head_dim=8, num_key_value_heads=8, moe_intermediate_size=32, n_routed_experts=4,
                                 n_shared_experts=1, num_experts_per_tok=2, n_group=1, topk_group=1,
                                 first_k_dense_replace=1, **common), "DeepseekV3ForCausalLM"),
    }
