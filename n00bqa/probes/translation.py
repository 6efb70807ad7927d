"""How is one language translated to another, i.e. how is the output of the encoder processed in the decoder?

The probe trains a small encoder-decoder Transformer, live, on a toy language pair whose word
alignment is known and whose word order differs (adjectives follow the noun, in reverse order,
and the verb moves to the end of the sentence). Then it walks one held-out sentence through it:

1. the encoder turns the source words into "memory": one vector per source word, (1, S, d_model);
2. the decoder starts from <s> and, at every step, runs masked self-attention over the target
   prefix it has written so far, then cross-attention whose queries come from the decoder and
   whose keys and values are the encoder memory; the last position's logits pick the next word
   (greedy decoding), which is appended to the prefix;
3. the cross-attention weights are a target x source heatmap, and we measure how often the
   most-attended source word is the word the target word translates (the true alignment).

The same walk on a real Hugging Face encoder-decoder (T5, Marian, BART) is the probe `seq2seq-walk`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table, check_ranges
from n00bqa.probes.lib.seq2seq import (ADJECTIVES, BOS, EOS, MAX_SRC, MAX_TGT, SRC_VOCAB, TGT_VOCAB, Sentence,
                                       encode_batch, heatmap_table, make_data)

ALPHA = 0.01  # the alignment test's significance level


# --- 1. Options ---------------------------------------------------------------------------------
@dataclass
class Options:
    steps: int = field(default=300, metadata={"help": "Training steps (batches) for the toy translator."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per training batch."})
    d_model: int = field(default=64, metadata={"help": "Width of the toy model (d_model)."})
    heads: int = field(default=4, metadata={"help": "Attention heads per layer."})
    layers: int = field(default=2, metadata={"help": "Encoder layers, and as many decoder layers."})
    lr: float = field(default=3e-3, metadata={"help": "Peak learning rate (AdamW, warm-up then cosine decay)."})
    test_sentences: int = field(default=300, metadata={"help": "Held-out sentences for accuracy and alignment."})


def check(opts: Options) -> None:
    for name, low in (("steps", 1), ("batch_size", 1), ("d_model", 8), ("heads", 1), ("layers", 1),
                      ("test_sentences", 1)):
        if getattr(opts, name) < low:
            raise ProbeError(f"--{name.replace('_', '-')} {getattr(opts, name)!r} is too small; use at least {low}")
    if opts.d_model % opts.heads:
        raise ProbeError(f"--d-model {opts.d_model} is not divisible by --heads {opts.heads}; "
                         "pick a width that is a multiple of the head count")
    if not opts.lr > 0:
        raise ProbeError(f"--lr {opts.lr!r} must be positive, e.g. 3e-3")
    check_ranges(opts, {"steps": (1, 1000), "batch_size": (1, 512), "d_model": (8, 512), "heads": (1, 16),
                        "layers": (1, 6), "lr": (1e-5, 0.1), "test_sentences": (1, 2000)})


# --- 2. The model: the "Attention is all you need" encoder-decoder, small, pre-LayerNorm, built from
# nn.MultiheadAttention so that the attention weights can be read out ----------------------------
def build_model(d_model: int, n_heads: int, n_layers: int):
    import torch
    from torch import nn

    def feed_forward() -> nn.Module:
        return nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Linear(4 * d_model, d_model))

    class EncoderLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
            self.ff = feed_forward()

        def forward(self, x, src_pad, need_weights=False):
            h = self.norm1(x)  # (B, S, d)
            a, w = self.self_attn(h, h, h, key_padding_mask=src_pad, need_weights=need_weights,
                                  average_attn_weights=False)  # a (B, S, d), w (B, heads, S, S)
            x = x + a
            return x + self.ff(self.norm2(x)), w

    class DecoderLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
            self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
            self.cross_attn = nn.MultiheadAttention(d_model, n_heads, dropout=0.0, batch_first=True)
            self.ff = feed_forward()

        def forward(self, y, memory, src_pad, causal, need_weights=False):
            h = self.norm1(y)  # (B, T, d)
            # masked self-attention: target position t sees positions <= t of the prefix only
            a, self_w = self.self_attn(h, h, h, attn_mask=causal, need_weights=need_weights,
                                       average_attn_weights=False)  # self_w (B, heads, T, T)
            y = y + a
            h = self.norm2(y)
            # cross-attention: queries from the decoder (B, T, d), keys and values = encoder memory (B, S, d)
            a, cross_w = self.cross_attn(h, memory, memory, key_padding_mask=src_pad, need_weights=need_weights,
                                         average_attn_weights=False)  # cross_w (B, heads, T, S)
            y = y + a
            return y + self.ff(self.norm3(y)), self_w, cross_w

    class Translator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_embed = nn.Embedding(len(SRC_VOCAB), d_model, padding_idx=0)
            self.tgt_embed = nn.Embedding(len(TGT_VOCAB), d_model, padding_idx=0)
            self.src_pos = nn.Embedding(MAX_SRC, d_model)
            self.tgt_pos = nn.Embedding(MAX_TGT, d_model)
            self.encoder = nn.ModuleList(EncoderLayer() for _ in range(n_layers))
            self.decoder = nn.ModuleList(DecoderLayer() for _ in range(n_layers))
            self.enc_norm, self.dec_norm = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.lm_head = nn.Linear(d_model, len(TGT_VOCAB))

        def encode(self, src, need_weights=False):
            """src (B, S) -> memory (B, S, d), one self-attention map (B, heads, S, S) per layer."""
            x = self.src_embed(src) + self.src_pos(torch.arange(src.shape[1]))  # (B, S, d)
            maps = []
            for layer in self.encoder:
                x, w = layer(x, src == 0, need_weights)
                maps.append(w)
            return self.enc_norm(x), maps

        def decode(self, tgt_in, memory, src_pad, need_weights=False):
            """tgt_in (B, T) + memory (B, S, d) -> logits (B, T, vocab), self (B,h,T,T) and cross (B,h,T,S) maps."""
            T = tgt_in.shape[1]
            causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True = may not attend
            y = self.tgt_embed(tgt_in) + self.tgt_pos(torch.arange(T))  # (B, T, d)
            self_maps, cross_maps = [], []
            for layer in self.decoder:
                y, self_w, cross_w = layer(y, memory, src_pad, causal, need_weights)
                self_maps.append(self_w)
                cross_maps.append(cross_w)
            return self.lm_head(self.dec_norm(y)), self_maps, cross_maps  # (B, T, d) @ (d, vocab)

        def forward(self, src, tgt_in, need_weights=False):
            memory, _ = self.encode(src, need_weights)
            return self.decode(tgt_in, memory, src == 0, need_weights)

    return Translator()


def greedy_translate(model, src):
    """Batched greedy decoding: src (B, S) -> target ids (B, <=MAX_TGT-1), stopping at </s>."""
    import torch

    eos = TGT_VOCAB.index(EOS)
    with torch.no_grad():
        memory, _ = model.encode(src)  # (B, S, d), computed once and reused at every step
        prefix = torch.full((src.shape[0], 1), TGT_VOCAB.index(BOS))  # (B, 1)
        for _ in range(MAX_TGT - 1):
            logits, _, _ = model.decode(prefix, memory, src == 0)  # (B, t, vocab)
            next_id = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
            prefix = torch.cat([prefix, next_id], dim=1)  # (B, t+1)
            if bool((prefix == eos).any(dim=1).all()):
                break
    return prefix[:, 1:]


def decoded_correctly(model, sentences: list[Sentence]) -> list[bool]:
    """For each sentence: does greedy decoding reproduce its reference translation word for word?"""
    src, _, _ = encode_batch(sentences)
    out = greedy_translate(model, src)
    right = []
    for s, ids in zip(sentences, out.tolist()):
        words = [TGT_VOCAB[i] for i in ids]
        words = words[:words.index(EOS)] if EOS in words else words
        right.append(words == s.target)
    return right


def exact_match(model, sentences: list[Sentence]) -> float:
    return sum(decoded_correctly(model, sentences)) / len(sentences)



# --- 3. Training, then the alignment test --------------------------------------------------------
@dataclass
class Trained:
    """What training leaves behind, for the walk-through (and for the tests)."""

    model: Any
    test: list[Sentence]
    accuracy: float
    train_seconds: float
    curve: list[tuple[int, float, float]]  # (step, mean training loss since the last check, held-out exact match)
    parameters: int
    final_loss: float = float("nan")  # the training loss of the last step itself
    loss_interval: int = 1  # steps averaged in each curve point
    correct: list[bool] = field(default_factory=list)  # per held-out sentence: decoded exactly right
    losses: list[float] = field(default_factory=list)  # every step's training loss


def train(opts: Options, ctx: Context) -> Trained:
    """Train the toy translator with teacher forcing: the decoder reads <s> y and must predict y </s>."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(ctx.seed)
    batch, test = make_data(ctx.seed, opts.test_sentences)
    model = build_model(opts.d_model, opts.heads, opts.layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=0.01)
    warmup = max(1, opts.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(step, opts.steps) / opts.steps)))
    advance = ctx.task("training the toy translator", opts.steps)
    curve: list[tuple[int, float, float]] = []
    check_every = max(1, opts.steps // 5)
    start = time.perf_counter()
    losses: list[float] = []
    for step in range(1, opts.steps + 1):
        model.train()
        src, tgt_in, tgt_out = encode_batch(batch(opts.batch_size))  # (B, S), (B, T), (B, T)
        logits, _, _ = model(src, tgt_in)  # (B, T, vocab)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % check_every == 0 or step == opts.steps:
            model.eval()
            sample = test[:100]
            curve.append((step, sum(losses[-check_every:]) / len(losses[-check_every:]), exact_match(model, sample)))
        advance(1)
    model.eval()
    train_seconds = time.perf_counter() - start
    correct = decoded_correctly(model, test)
    return Trained(model, test, sum(correct) / len(test), train_seconds, curve, sum(p.numel() for p in model.parameters()),
                   final_loss=losses[-1], loss_interval=check_every, correct=correct, losses=losses)


def alignment_hits(model, sentences: list[Sentence]):
    """For every decoder head: how many target words have as most-attended source word (cross-attention,
    teacher forced) the word they translate. Returns ((layers, heads) hit counts, target words).

    Score only sentences the model decodes correctly: then the teacher-forced prefix is exactly the prefix
    greedy decoding wrote, so these are the attention maps the translation was made with.
    """
    import torch

    src, tgt_in, _ = encode_batch(sentences)
    with torch.no_grad():
        _, _, cross = model(src, tgt_in, need_weights=True)  # per layer: (B, heads, T, S)
    cross = torch.stack(cross, dim=1)  # (B, layers, heads, T, S)
    hits = torch.zeros(cross.shape[1], cross.shape[2], dtype=torch.long)
    words = 0
    for b, s in enumerate(sentences):
        # query position t (decoder input <s> y_1..y_t) is where target word y_{t+1} = s.target[t] is predicted
        T = len(s.target)
        most_attended = cross[b, :, :, :T, :].argmax(-1)  # (layers, heads, T)
        hits += (most_attended == torch.tensor(s.alignment)).sum(-1)  # (layers, heads)
        words += T
    return hits, words


def alignment_scores(model, sentences: list[Sentence]):
    """Share of target words whose most-attended source word is their translation: (layers, heads) in [0, 1]."""
    hits, words = alignment_hits(model, sentences)
    return hits.float() / words


def chance_hit_probabilities(sentences: list[Sentence]) -> list[float]:
    """The chance baseline, one probability per target word: a head whose largest weight falls on a source
    word picked uniformly at random hits the aligned word with probability 1/S (S = source length)."""
    return [1 / len(s.source) for s in sentences for _ in s.target]


def log10_tail_at_least(hits: int, probabilities: list[float]) -> float:
    """log10 P(X >= hits) for X a sum of independent Bernoulli(p_i) (Poisson-binomial), computed exactly.

    Dynamic programming over the words in log space, so tails far below 1e-308 stay representable.
    """
    import numpy as np

    log_dist = np.full(len(probabilities) + 1, -np.inf)  # log P(X = k) after the words seen so far
    log_dist[0] = 0.0
    for p in probabilities:
        shifted = np.concatenate(([-np.inf], log_dist[:-1]))  # one more hit
        log_dist = np.logaddexp(log_dist + np.log1p(-p), shifted + np.log(p))
    tail = np.logaddexp.reduce(log_dist[hits:]) if hits <= len(probabilities) else -np.inf
    return float(min(tail, 0.0) / np.log(10))


def format_p(log10_p: float) -> str:
    """A p-value for reading: 0.034, 2.1e-07, or 10^-812 once it is below what a float can hold."""
    return f"{10 ** log10_p:.2g}" if log10_p > -300 else f"10^{log10_p:.0f}"


def alignment_verdict(log10_p: float, alpha: float = ALPHA) -> str:
    """The words for the test "does the head pick the aligned source word more often than chance?"."""
    if log10_p < math.log10(alpha):
        return f"follows the word alignment more often than chance (p = {format_p(log10_p)} < {alpha:g})"
    return f"is not distinguishable from chance at the {alpha:g} level (p = {format_p(log10_p)})"


def walk(model, sentence: Sentence) -> dict[str, Any]:
    """Greedy decoding of one sentence, one step at a time, keeping every attention map."""
    import torch

    src, _, _ = encode_batch([sentence])  # (1, S)
    steps = []
    with torch.no_grad():
        memory, enc_maps = model.encode(src, need_weights=True)  # (1, S, d); per layer (1, heads, S, S)
        prefix = [TGT_VOCAB.index(BOS)]
        for _ in range(MAX_TGT - 1):
            tgt_in = torch.tensor([prefix])  # (1, t)
            logits, self_maps, cross_maps = model.decode(tgt_in, memory, src == 0, need_weights=True)
            probs = logits[0, -1].softmax(-1)  # (vocab,) for the next word only
            next_id = int(probs.argmax())
            steps.append({
                "prefix": [TGT_VOCAB[i] for i in prefix],
                "self": [m[0, :, -1, :] for m in self_maps],  # per layer: (heads, t), the last query's row
                "cross": [m[0, :, -1, :] for m in cross_maps],  # per layer: (heads, S)
                "token": TGT_VOCAB[next_id],
                "prob": float(probs[next_id]),
                "logits": logits[0, -1].clone(),
            })
            prefix.append(next_id)
            if next_id == TGT_VOCAB.index(EOS):
                break
    return {"memory_shape": tuple(memory.shape), "encoder_self_shape": tuple(enc_maps[0].shape),
            "decoder_self_shape": tuple(self_maps[0].shape), "cross_shape": tuple(cross_maps[0].shape),
            "steps": steps, "tokens": [s["token"] for s in steps]}



# --- 4. Numbers ---------------------------------------------------------------------------------
@dataclass
class Alignment:
    """Cross-attention against the known alignment, teacher forced, on correctly decoded held-out sentences:
    the head is chosen on the selection split and scored on the scoring split."""

    layer: int  # the chosen head, 1-based
    head: int
    selection_share: float  # its share of aligned target words on the selection split
    share: float  # its share on the scoring split
    mean_share: float  # every head's mean share on the scoring split
    hits: int  # the chosen head's hits on the scoring split
    words: int  # target words of the scoring split
    chance: float  # mean of 1/S over those words: a uniformly random head's share
    chance_hits: float  # sum of 1/S: the hits a random head is expected to score
    log10_p_value: float  # one-sided exact test of hits against chance
    p_value: Optional[float]  # 10 ** log10 p; None below 1e-300, where only the log is exact
    scores: list[list[float]]  # (layers, heads) shares on the scoring split


@dataclass
class Walk:
    """Greedy decoding of one held-out sentence, step by step."""

    source: list[str]
    target: list[str]
    alignment: list[int]  # target word j translates source word alignment[j]
    tokens: list[str]  # the greedy output, </s> included
    decoded: list[str]
    decoded_correct: bool
    memory_shape: str
    encoder_self_shape: str
    decoder_self_shape: str
    cross_shape: str
    greedy_steps: int
    step_rows: list[list[Any]]
    heatmap_head: str  # which cross-attention the heatmap shows
    heatmap_rows: list[list[float]]  # (steps, S) weights
    last_prefix_words: int
    last_self_top_words: list[str]  # the 3 prefix words weighed most at the last step
    last_self_top_weights: dict[str, float]  # keyed "1", "2", "3"
    sentence_hits: Optional[int] = None  # scored only when the sentence decoded correctly and a head was chosen
    verb_source_position: Optional[int] = None  # 1-based
    verb_weight: Optional[float] = None  # the chosen head's weight on the verb when writing it
    verb_most_seen: str = ""


@dataclass
class Numbers:
    parameters: int
    train_seconds: float
    test_sentences: int
    accuracy: float  # held-out exact match
    correct_sentences: int  # held-out sentences decoded exactly right
    final_train_loss: float  # the last training step's loss
    final_interval_mean_loss: float  # mean training loss over the last `loss_interval` steps
    loss_interval: int
    curve_rows: list[list[Any]]  # (step, mean training loss over the interval, exact match on the first held-out)
    curve_sample: int
    selection_sentences: int
    scoring_sentences: int
    decoder_heads: int
    alignment: Optional[Alignment]  # None when too few sentences decode right to split them
    walk: Walk


# --- 5. measure: train, score the alignment, walk one sentence ----------------------------------
def score_alignment(model, selection: list[Sentence], scoring: list[Sentence]) -> Alignment:
    """Choose the head that follows the alignment best on `selection`, then score it on `scoring`."""
    heads = model.decoder[0].cross_attn.num_heads
    selection_scores = alignment_scores(model, selection)  # (layers, heads)
    best = int(selection_scores.argmax())  # flat index into (layers, heads)
    layer, head = divmod(best, heads)
    hits, words = alignment_hits(model, scoring)  # (layers, heads), int
    chance = chance_hit_probabilities(scoring)
    k = int(hits[layer, head])
    log10_p = log10_tail_at_least(k, chance)
    return Alignment(
        layer=layer + 1, head=head + 1, selection_share=round(float(selection_scores.flatten()[best]), 4),
        share=round(k / words, 4), mean_share=round(float(hits.float().mean()) / words, 4), hits=k, words=words,
        chance=sum(chance) / len(chance), chance_hits=sum(chance), log10_p_value=log10_p,
        p_value=10 ** log10_p if log10_p > -300 else None,  # below that a float reads 0.0
        scores=(hits.float() / words).tolist())


def walk_through(model, sentence: Sentence, chosen: Optional[Alignment]) -> Walk:
    """Walk one sentence and read its attention: the chosen head's cross-attention (or the last layer's,
    heads averaged, when no head was chosen), and the decoder's self-attention at the last step."""
    path = walk(model, sentence)
    steps = path["steps"]
    if chosen is not None:  # the chosen head's row at every step: (steps, S)
        rows = [step["cross"][chosen.layer - 1][chosen.head - 1] for step in steps]
        heatmap_head = f"decoder layer {chosen.layer} head {chosen.head} (chosen on the selection split)"
    else:
        rows = [step["cross"][-1].mean(0) for step in steps]
        heatmap_head = f"decoder layer {len(model.decoder)}, heads averaged"
    self_last = steps[-1]["self"][-1].mean(0)  # last decoder layer, heads averaged: (t,)
    last_prefix = steps[-1]["prefix"]
    top3 = self_last.argsort(descending=True)[:3].tolist()
    step_rows = []
    for i, (step, row) in enumerate(zip(steps, rows)):
        self_row = step["self"][-1].mean(0)  # (t,) last layer, heads averaged
        looked = max(range(len(step["prefix"])), key=lambda j: float(self_row[j]))
        step_rows.append([i + 1, " ".join(step["prefix"]), f"{step['prefix'][looked]} {float(self_row[looked]):.2f}",
                          f"{sentence.source[int(row.argmax())]} {float(row.max()):.2f}", step["token"],
                          round(step["prob"], 3)])
    decoded = [t for t in path["tokens"] if t != EOS]
    w = Walk(source=sentence.source, target=sentence.target, alignment=sentence.alignment, tokens=path["tokens"],
             decoded=decoded, decoded_correct=decoded == sentence.target, memory_shape=str(path["memory_shape"]),
             encoder_self_shape=str(path["encoder_self_shape"]), decoder_self_shape=str(path["decoder_self_shape"]),
             cross_shape=str(path["cross_shape"]), greedy_steps=len(steps), step_rows=step_rows,
             heatmap_head=heatmap_head, heatmap_rows=[row.tolist() for row in rows],
             last_prefix_words=len(last_prefix), last_self_top_words=[last_prefix[j] for j in top3],
             last_self_top_weights={str(i + 1): float(self_last[j]) for i, j in enumerate(top3)})
    if chosen is not None and w.decoded_correct:  # alignment is scored only on a correct decoding
        w.sentence_hits = sum(int(row.argmax()) == a for row, a in zip(rows, sentence.alignment))
        verb_at = sentence.alignment[-1]  # the last target word is always the verb
        verb_row = rows[len(sentence.target) - 1]  # the step that writes the verb
        w.verb_source_position, w.verb_weight = verb_at + 1, float(verb_row[verb_at])
        w.verb_most_seen = sentence.source[int(verb_row.argmax())]
    return w


def analyse(trained: Trained, opts: Options) -> Numbers:
    """Score cross-attention against the known alignment and walk one sentence: the numbers of the report."""
    model = trained.model
    correct = trained.correct or decoded_correctly(model, trained.test)
    matched = [s for s, ok in zip(trained.test, correct) if ok]
    # two disjoint splits of the correctly decoded sentences: one picks the head, the other scores it
    selection, scoring = matched[0::2], matched[1::2]
    chosen = score_alignment(model, selection, scoring) if selection and scoring else None
    # a correctly decoded sentence of the scoring split with adjectives to reorder, short enough for its
    # heatmap to fit an 80-column terminal (else any held-out sentence)
    fits = [s for s in scoring if len(s.source) <= 8 and any(w in ADJECTIVES for w in s.source)]
    sentence = max(fits[:40] or scoring[:1] or trained.test[:1], key=lambda s: len(s.source))
    return Numbers(
        parameters=trained.parameters, train_seconds=round(trained.train_seconds, 2),
        test_sentences=len(trained.test), accuracy=round(trained.accuracy, 4), correct_sentences=len(matched),
        final_train_loss=round(trained.final_loss, 4), final_interval_mean_loss=round(trained.curve[-1][1], 4),
        loss_interval=trained.loss_interval,
        curve_rows=[[step, round(loss, 4), round(acc, 3)] for step, loss, acc in trained.curve],
        curve_sample=min(100, len(trained.test)), selection_sentences=len(selection),
        scoring_sentences=len(scoring), decoder_heads=len(model.decoder) * model.decoder[0].cross_attn.num_heads,
        alignment=chosen, walk=walk_through(model, sentence, chosen),
    )


def measure(opts: Options, ctx: Context) -> Numbers:
    return analyse(train(opts, ctx), opts)


# --- 6. report ----------------------------------------------------------------------------------
def report(n: Numbers, opts: Options) -> Report:
    """The findings and tables of a toy-translator run, every number read from `n`."""
    w, a = n.walk, n.alignment
    S = len(w.source)
    tables = [
        Table("Training (teacher forcing, cross-entropy on the next target word)",
              ["step", f"mean loss, last {n.loss_interval} steps", f"exact match, {n.curve_sample} held-out"],
              n.curve_rows, note=f"the last step's own loss: {n.final_train_loss:.4f}"),
        Table("Tensor shapes in the walk-through", ["tensor", "shape", "meaning"], [
            ["source ids", f"(1, {S})", "one held-out sentence, S source words"],
            ["encoder memory", w.memory_shape, "one d_model vector per source word; computed once"],
            ["encoder self-attention", w.encoder_self_shape, "(batch, heads, S, S) per encoder layer"],
            ["decoder self-attention (last step)", w.decoder_self_shape,
             "(batch, heads, t, t), causal: each prefix position sees itself and the left"],
            ["cross-attention (last step)", w.cross_shape,
             "(batch, heads, t, S): queries from the decoder prefix, keys/values from the memory"],
            ["logits per step", f"(1, t, {len(TGT_VOCAB)})", "only the last position's row picks the next word"],
        ]),
        Table(f"Greedy decoding of '{' '.join(w.source)}'",
              ["step", "decoder input (prefix)", "self-attn: most-seen prefix word",
               "cross-attn: most-seen source word", "next word", "p"],
              w.step_rows, note=f"self-attention: last decoder layer, heads averaged, row of the newest position; "
                                f"cross-attention: {w.heatmap_head}"),
        heatmap_table(f"Cross-attention heatmap, {w.heatmap_head}",
                      # the word produced, and (when it is the reference word) the source word it translates
                      [f"{t} ← {w.source[w.alignment[i]]}" if i < len(w.target) and t == w.target[i] else t
                       for i, t in enumerate(w.tokens)],
                      w.source, w.heatmap_rows,
                      note="row = target word being produced (← the source word it translates), columns = source "
                           "words; cell = attention weight in %, each row sums to 100"),
    ]
    if a is not None:
        heads = len(a.scores[0])
        tables.append(Table.of(
            "Alignment on the scoring split: share of target words whose most-attended source word is their "
            "translation", a.scores,
            {"decoder layer": lambda i, _: f"layer {i + 1}",
             **{f"head {h + 1}": (lambda _, row, h=h: round(row[h], 3)) for h in range(heads)},
             "mean": lambda _, row: round(sum(row) / heads, 3)},
            note=f"{a.words} target words of {n.scoring_sentences} correctly decoded held-out sentences; "
                 f"the head was chosen on {n.selection_sentences} other ones; chance (1/S per word) "
                 f"{a.chance:.3f}"))
    findings = [
        f"A {opts.layers}+{opts.layers}-layer encoder-decoder ({n.parameters:,} parameters, d_model {opts.d_model}, "
        f"{opts.heads} heads) trained for {opts.steps} steps in {n.train_seconds:.1f} s (last step's training loss "
        f"{n.final_train_loss:.4f}) translates {n.correct_sentences} of {n.test_sentences} held-out sentences exactly "
        f"({n.accuracy:.1%}), although the target language moves adjectives after the noun and the verb to "
        "the end.",
        f"The encoder runs once: '{' '.join(w.source)}' ({S} words) becomes memory of shape "
        f"{w.memory_shape}, and every decoding step reads that same memory.",
        f"Each of the {w.greedy_steps} greedy steps feeds the prefix so far into the decoder: masked "
        f"self-attention over the prefix (shape {w.decoder_self_shape} at the last step), then "
        f"cross-attention with queries from the decoder and keys/values from the memory "
        f"(shape {w.cross_shape}), then the last position's logits pick the next word.",
        f"Greedy output: '{' '.join(w.decoded)}' (reference '{' '.join(w.target)}', "
        f"{'correct' if w.decoded_correct else 'wrong'}); at the last step the decoder's self-attention "
        f"(last layer, heads averaged) over its {w.last_prefix_words}-word prefix puts most weight on "
        + ", ".join(f"'{word}' {w.last_self_top_weights[str(i + 1)]:.2f}"
                    for i, word in enumerate(w.last_self_top_words)) + ".",
    ]
    if a is not None:
        findings.append(
            f"Cross-attention, scored only on sentences decoded correctly (the attention the translation was "
            f"made with): decoder layer {a.layer} head {a.head}, chosen as the best of {n.decoder_heads} "
            f"heads on {n.selection_sentences} of them ({a.selection_share:.1%} there), puts its "
            f"largest weight on the source word a target word translates for {a.share:.1%} "
            f"({a.hits} of {a.words}) of the target words of the other "
            f"{n.scoring_sentences}; a head whose largest weight fell on a random source word would hit "
            f"{a.chance:.1%} ({a.chance_hits:.1f} expected). By an exact one-sided test "
            f"against that chance it {alignment_verdict(a.log10_p_value)}. Mean over all "
            f"{n.decoder_heads} heads on the scoring split: {a.mean_share:.1%}.")
        if w.sentence_hits is not None:
            findings.append(
                f"In the walked sentence (decoded correctly) the chosen head's most-attended source word is the "
                f"aligned one for {w.sentence_hits} of {len(w.target)} target words; writing the verb, moved from "
                f"source position {w.verb_source_position} to the end, it puts {w.verb_weight:.0%} of its weight "
                f"on '{w.source[w.verb_source_position - 1]}' (most on '{w.verb_most_seen}').")
        else:
            findings.append("The walked sentence decoded wrongly, so its alignment is not scored.")
    else:
        findings.append(
            f"Only {n.correct_sentences} of {n.test_sentences} held-out sentences decode correctly: too few to choose "
            "a head on one split and score it on another, so cross-attention alignment is not scored (train "
            "longer, e.g. the default --steps).")
    summary = (f"The decoder reads the encoder's memory through cross-attention at every step: a toy translator "
               f"trained here reaches {n.accuracy:.1%} exact match"
               + (f", and its chosen cross-attention head points at the aligned source word for "
                  f"{a.share:.1%} of held-out target words (chance {a.chance:.1%})."
                  if a is not None else "; too few sentences decode correctly to score its alignment."))
    return Report(summary, findings, tables, model="toy encoder-decoder (trained in this run)")


# --- 7. The probe -------------------------------------------------------------------------------
# Metrics renamed when the alignment and the walk-through became records of their own.
RENAMED_METRICS = {
    "best_layer": "alignment.layer", "best_head": "alignment.head",
    "alignment_selection_best_head": "alignment.selection_share", "alignment_best_head": "alignment.share",
    "alignment_mean": "alignment.mean_share", "alignment_hits": "alignment.hits", "alignment_words": "alignment.words",
    "alignment_chance": "alignment.chance", "alignment_chance_hits": "alignment.chance_hits",
    "alignment_log10_p_value": "alignment.log10_p_value", "alignment_p_value": "alignment.p_value",
    **{name: f"walk.{name}" for name in ("decoded_correct", "greedy_steps", "last_prefix_words", "sentence_hits",
                                         "verb_source_position", "verb_weight")},
    **{f"last_self_top_weights.{i}": f"walk.last_self_top_weights.{i}" for i in (1, 2, 3)},
}

PROBE = Probe(
    name="translation",
    question="encoder-decoder",
    title="Train a toy translator live; watch the decoder's cross-attention read the encoder memory",
    options=Options,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a tiny model: one thread is faster than two (see Probe.threads)
    predictions=(
        Prediction("A 2+2-layer toy translator trains for 300 steps: what share of held-out sentences does it "
                   "translate exactly?", "accuracy", "(share)"),
    ),
    renamed_metrics=RENAMED_METRICS,
)
