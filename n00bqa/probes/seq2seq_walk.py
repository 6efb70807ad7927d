"""How does a real Hugging Face encoder-decoder (T5, Marian, BART) read its encoder memory at each greedy step?

The walk of the toy translator (probe `translation`), done on a Hugging Face seq2seq model with its
own cross-attentions (`output_attentions=True`):

1. the encoder runs once and turns the source tokens into memory, (1, S, d_model);
2. each greedy step runs the decoder on the prefix written so far: self-attention over the prefix,
   cross-attention from the prefix into the memory, in every layer; the last position's logits pick
   the next token;
3. our step-by-step loop is checked against `model.generate(num_beams=1)`, token for token.

With `--model PATH` it walks a local model folder. Without it, it walks a tiny T5 built here with
random weights and the bundled MiniLM tokenizer: its output is noise, its shapes and its loop are
those of any T5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges
from n00bqa.probes.lib.seq2seq import check_seq2seq_folder, heatmap_table, load_seq2seq, tiny_t5

TINY_T5 = "a tiny T5 with random weights (2+2 layers, d_model 32, 4 heads), built here"


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    model: Optional[str] = field(default=None, metadata={
        "help": "A local Hugging Face encoder-decoder folder (Marian, T5, BART); default: a tiny random T5."})
    text: str = field(default="The small dog sees the big red cat.", metadata={
        "help": "The source sentence to translate."})
    max_new_tokens: int = field(default=12, metadata={"help": "Greedy decoding steps at most."})


def check(opts: Options) -> None:
    check_ranges(opts, {"max_new_tokens": (1, 128)})
    if opts.model is not None:
        check_seq2seq_folder(opts.model)
    if not opts.text.strip():
        raise ProbeError("--text '' is empty; give a source sentence to translate")


# --- 2. Numbers ---------------------------------------------------------------------------------
@dataclass
class Numbers:
    steps: int
    source_tokens: int
    decoder_layers: int
    heads: int
    d_model: int
    cross_weights_per_step: int  # layers x heads x S: what the newest token's cross-attention computes
    matches_generate: bool  # our step-by-step greedy tokens == model.generate(num_beams=1)
    model_type: str
    model: str  # the folder, or TINY_T5
    source: list[str]
    target: list[str]
    text: str
    shapes: dict[str, str]  # tensor -> its shape at the last step
    step_rows: list[list[Any]]  # step, prefix, most-seen source token and weight, next token, p
    last_layer_cross: list[list[float]]  # (steps, S), last decoder layer, heads averaged


# --- 3. measure ---------------------------------------------------------------------------------
def measure(opts: Options, ctx: Context) -> Numbers:
    """Greedy decoding, step by step, keeping the attention maps."""
    import torch

    if opts.model is None:
        (model, tokenizer), label = tiny_t5(ctx.seed), TINY_T5
    else:
        model, tokenizer, label = load_seq2seq(opts.model)
    advance = ctx.task("greedy decoding", opts.max_new_tokens)
    encoded = tokenizer(opts.text, return_tensors="pt")
    # only what an encoder-decoder takes (a BERT-style tokenizer would add token_type_ids)
    enc = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}  # (1, S) each
    source = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    start_id = model.config.decoder_start_token_id
    if start_id is None:
        start_id = model.config.pad_token_id
    eos_id = model.config.eos_token_id
    steps = []
    with torch.no_grad():
        encoder_out = model.get_encoder()(**enc)  # computed once: last_hidden_state (1, S, d_model)
        prefix = [int(start_id)]
        for _ in range(opts.max_new_tokens):
            out = model(encoder_outputs=encoder_out, attention_mask=enc["attention_mask"],
                        decoder_input_ids=torch.tensor([prefix]), output_attentions=True)
            # out.cross_attentions: per decoder layer (1, heads, t, S); out.decoder_attentions: (1, heads, t, t)
            probs = out.logits[0, -1].softmax(-1)  # (vocab,): the last position picks the next token
            next_id = int(probs.argmax())
            steps.append({"prefix": list(prefix), "prob": float(probs[next_id]),
                          "cross": torch.stack(out.cross_attentions)[:, 0, :, -1, :]})  # (layers, heads, S)
            prefix.append(next_id)
            advance(1)
            if eos_id is not None and next_id == eos_id:
                break
        generated = model.generate(**enc, max_new_tokens=opts.max_new_tokens, do_sample=False, num_beams=1)
    ours = prefix[1:]
    target = tokenizer.convert_ids_to_tokens(ours)
    cross = [s["cross"][-1].mean(0) for s in steps]  # last layer, heads averaged: (S,) per step
    return Numbers(
        steps=len(steps), source_tokens=len(source), decoder_layers=len(out.cross_attentions),
        heads=out.cross_attentions[0].shape[1], d_model=int(encoder_out.last_hidden_state.shape[-1]),
        cross_weights_per_step=sum(int(s["cross"][0].numel()) for s in steps[:1]) * len(out.cross_attentions),
        matches_generate=ours == generated[0, 1:].tolist()[:len(ours)],
        model_type=model.config.model_type, model=label, source=source, target=target,
        text=tokenizer.decode(ours, skip_special_tokens=True),
        shapes={"source ids": str(tuple(enc["input_ids"].shape)),
                "encoder memory (last_hidden_state)": str(tuple(encoder_out.last_hidden_state.shape)),
                "decoder self-attention, per layer (last step)": str(tuple(out.decoder_attentions[0].shape)),
                "cross-attention, per layer (last step)": str(tuple(out.cross_attentions[0].shape)),
                "logits (last step)": str(tuple(out.logits.shape))},
        step_rows=[[i + 1, " ".join(tokenizer.convert_ids_to_tokens(s["prefix"])),
                    f"{source[int(row.argmax())]} {float(row.max()):.2f}", target[i], round(s["prob"], 3)]
                   for i, (s, row) in enumerate(zip(steps, cross))],
        last_layer_cross=[row.tolist() for row in cross],
    )


# --- 4. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    memory = n.shapes["encoder memory (last_hidden_state)"]
    self_shape = n.shapes["decoder self-attention, per layer (last step)"]
    cross_shape = n.shapes["cross-attention, per layer (last step)"]
    tables = [
        Table.of("Tensor shapes", n.shapes, {"tensor": "key", "shape": lambda _, shape: shape}),
        Table("Greedy decoding, step by step", ["step", "decoder input (prefix)",
                                                "cross-attn (last layer, heads avg): most-seen source token",
                                                "next token", "p"], n.step_rows),
        heatmap_table("Cross-attention heatmap, last decoder layer, heads averaged", n.target, n.source,
                      n.last_layer_cross,
                      note="row = token produced, columns = source tokens; cell = weight in %, each row sums to 100"),
    ]
    findings = [
        f"The encoder turns {n.source_tokens} source tokens into memory of shape {memory}, computed once.",
        f"Each of {n.steps} greedy steps runs the decoder on the prefix: self-attention (shape {self_shape} at "
        f"the last step) and cross-attention into the memory (shape {cross_shape}) in each of {n.decoder_layers} "
        f"layers with {n.heads} heads: for the newest token that is {n.decoder_layers} x {n.heads} x "
        f"{n.source_tokens} = {n.cross_weights_per_step} cross-attention weights per step.",
        f"Greedy output: {n.text!r}; it {'equals' if n.matches_generate else 'differs from'} "
        "model.generate(num_beams=1) token for token.",
        "No reference alignment is known for this sentence, so alignment is not scored; read it off the heatmap.",
    ]
    if opts.model is None:
        findings.append("The weights are random, so the output is noise: the shapes and the loop are the lesson. "
                        "Pass --model PATH to walk a trained translator.")
    return Report(f"{n.model_type} decoder reading its encoder memory through cross-attention, "
                  f"{n.steps} greedy steps.", findings, tables, model=n.model)


# --- 5. The probe -------------------------------------------------------------------------------
PROBE = Probe(
    name="seq2seq-walk",
    question="encoder-decoder",
    title="Greedy decoding on a Hugging Face encoder-decoder: the memory, the cross-attention, step by step",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,
    predictions=(
        Prediction("The default tiny T5 (2 decoder layers of 4 heads) reads 'The small dog sees the big red "
                   "cat.', 11 tokens with [CLS] and [SEP]: how many cross-attention weights does one greedy step "
                   "compute for its newest token?", "cross_weights_per_step", "weights"),
    ),
)
