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

With `--model PATH` the same walk runs on a local Hugging Face encoder-decoder folder (Marian,
T5, BART ...) using its own cross-attentions (`output_attentions=True`).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Context, Prediction, Probe, Report, Table

# ---------------------------------------------------------------------------------------------
# The toy language pair. Every source word has exactly one target word, so the alignment of a
# sentence is a permutation we know: target word j translates source word alignment[j].
# ---------------------------------------------------------------------------------------------

DETERMINERS = {"the": "le", "a": "un"}
ADJECTIVES = {"big": "gros", "small": "petit", "red": "rouge", "black": "noir", "old": "vieux",
              "young": "jeune", "happy": "content", "quiet": "calme", "green": "vert", "tall": "haut"}
NOUNS = {"cat": "chat", "dog": "chien", "bird": "oiseau", "fish": "poisson", "child": "enfant",
         "teacher": "prof", "farmer": "fermier", "horse": "cheval", "mouse": "souris", "king": "roi",
         "apple": "pomme", "book": "livre"}
VERBS = {"sees": "voit", "eats": "mange", "likes": "aime", "follows": "suit", "finds": "trouve",
         "helps": "aide", "draws": "dessine", "hears": "entend"}
ADVERBS = {"today": "aujourdhui", "often": "souvent", "quickly": "vite"}
LEXICON = {**DETERMINERS, **ADJECTIVES, **NOUNS, **VERBS, **ADVERBS}

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
SRC_VOCAB = [PAD, *sorted(LEXICON)]
TGT_VOCAB = [PAD, BOS, EOS, *sorted(LEXICON.values())]
MAX_SRC = 11  # det adj adj noun verb det adj adj noun adverb = 10 words
MAX_TGT = MAX_SRC + 2  # <s> ... </s>
ALPHA = 0.01  # the alignment test's significance level
SHADES = " ░▒▓█"


@dataclass
class Sentence:
    source: list[str]
    target: list[str]
    alignment: list[int]  # target word j translates source word alignment[j]


def make_sentence(rng: random.Random) -> Sentence:
    """One random source sentence (subject verb object [adverb]), its translation and alignment."""
    source: list[str] = []
    order: list[int] = []

    def noun_phrase() -> None:
        start = len(source)
        adjectives = rng.sample(sorted(ADJECTIVES), rng.choice([0, 0, 1, 1, 2]))
        source.extend([rng.choice(sorted(DETERMINERS)), *adjectives, rng.choice(sorted(NOUNS))])
        # target order: determiner, noun, then the adjectives in reverse ("the big red cat" -> "le chat rouge gros")
        order.extend([start, start + len(adjectives) + 1, *range(start + len(adjectives), start, -1)])

    noun_phrase()
    verb_at = len(source)
    source.append(rng.choice(sorted(VERBS)))
    noun_phrase()
    if rng.random() < 0.4:
        order.append(len(source))
        source.append(rng.choice(sorted(ADVERBS)))
    order.append(verb_at)  # the verb moves to the end
    return Sentence(source, [LEXICON[source[i]] for i in order], order)


def make_data(seed: int, n_test: int) -> tuple[Callable[[int], list[Sentence]], list[Sentence]]:
    """A held-out set of `n_test` distinct sentences, and a sampler of training batches that never
    contains a held-out sentence (so test accuracy is measured on sentences never seen in training)."""
    rng = random.Random(seed)
    test: dict[tuple[str, ...], Sentence] = {}
    while len(test) < n_test:
        s = make_sentence(rng)
        test.setdefault(tuple(s.source), s)
    held_out = set(test)
    train_rng = random.Random(seed + 1)

    def batch(size: int) -> list[Sentence]:
        out = []
        while len(out) < size:
            s = make_sentence(train_rng)
            if tuple(s.source) not in held_out:
                out.append(s)
        return out

    return batch, list(test.values())


def encode_batch(sentences: list[Sentence]):
    """Token ids: src (B, S), decoder input tgt_in = <s> y (B, T), labels tgt_out = y </s> (B, T); 0 = pad."""
    import torch

    src_index = {w: i for i, w in enumerate(SRC_VOCAB)}
    tgt_index = {w: i for i, w in enumerate(TGT_VOCAB)}
    S = max(len(s.source) for s in sentences)
    T = max(len(s.target) for s in sentences) + 1
    src = torch.zeros(len(sentences), S, dtype=torch.long)
    tgt_in = torch.zeros(len(sentences), T, dtype=torch.long)
    tgt_out = torch.zeros(len(sentences), T, dtype=torch.long)
    for b, s in enumerate(sentences):
        src[b, :len(s.source)] = torch.tensor([src_index[w] for w in s.source])
        y = [tgt_index[w] for w in s.target]
        tgt_in[b, :len(y) + 1] = torch.tensor([tgt_index[BOS], *y])
        tgt_out[b, :len(y) + 1] = torch.tensor([*y, tgt_index[EOS]])
    return src, tgt_in, tgt_out


# ---------------------------------------------------------------------------------------------
# The model: the "Attention is all you need" encoder-decoder, small, pre-LayerNorm, built from
# nn.MultiheadAttention so that the attention weights can be read out.
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# Options and the run
# ---------------------------------------------------------------------------------------------

@dataclass
class TranslationOptions:
    steps: int = field(default=300, metadata={"help": "Training steps (batches) for the toy translator."})
    batch_size: int = field(default=64, metadata={"help": "Sentences per training batch."})
    d_model: int = field(default=64, metadata={"help": "Width of the toy model (d_model)."})
    heads: int = field(default=4, metadata={"help": "Attention heads per layer."})
    layers: int = field(default=2, metadata={"help": "Encoder layers, and as many decoder layers."})
    lr: float = field(default=3e-3, metadata={"help": "Peak learning rate (AdamW, warm-up then cosine decay)."})
    test_sentences: int = field(default=300, metadata={"help": "Held-out sentences for accuracy and alignment."})
    model: Optional[str] = field(default=None, metadata={
        "help": "A local Hugging Face encoder-decoder folder (Marian, T5, BART): walk it instead of training."})
    text: str = field(default="The small dog sees the big red cat.", metadata={
        "help": "With --model: the source sentence to translate."})
    max_new_tokens: int = field(default=20, metadata={"help": "With --model: greedy decoding steps at most."})


def check(opts: TranslationOptions) -> None:
    for name, low in (("steps", 1), ("batch_size", 1), ("d_model", 8), ("heads", 1), ("layers", 1),
                      ("test_sentences", 1), ("max_new_tokens", 1)):
        if getattr(opts, name) < low:
            raise ProbeError(f"--{name.replace('_', '-')} {getattr(opts, name)!r} is too small; use at least {low}")
    if opts.d_model % opts.heads:
        raise ProbeError(f"--d-model {opts.d_model} is not divisible by --heads {opts.heads}; "
                         "pick a width that is a multiple of the head count")
    if not opts.lr > 0:
        raise ProbeError(f"--lr {opts.lr!r} must be positive, e.g. 3e-3")
    if opts.model is not None:
        folder = Path(opts.model).expanduser()
        if not (folder / "config.json").is_file():
            raise ProbeError(f"--model {opts.model!r} is not a Hugging Face model folder (no config.json); "
                             "pass a local encoder-decoder folder such as a saved Marian or T5 model")
        if not opts.text.strip():
            raise ProbeError("--text '' is empty; give a source sentence to translate")


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


def train(opts: TranslationOptions, ctx: Context) -> Trained:
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


def shade(weight: float) -> str:
    return SHADES[min(len(SHADES) - 1, int(weight * len(SHADES)))]


def heatmap(title: str, rows: list[str], columns: list[str], weights, note: str) -> Table:
    """A target x source table. Source tokens head their columns as s1, s2, ... and are spelled out
    whole in the note, so no word is cut to fit. Up to 8 source columns each cell is a shade and the
    weight in percent ('█ 93'); beyond that only the shade, so the table still fits 80 columns."""
    legend = "source: " + ", ".join(f"s{i} = {c}" for i, c in enumerate(columns, 1))
    headers = [f"s{i}" for i in range(1, len(columns) + 1)]
    if len(columns) <= 8:
        cells = [[f"{shade(float(w))}{round(float(w) * 100):>3}" for w in ws] for ws in weights]
    else:
        cells = [[shade(float(w)) if float(w) >= 1 / len(SHADES) else "·" for w in ws] for ws in weights]
        note = (f"row = token produced, columns = the {len(columns)} source tokens (shades only, to fit): "
                "· under 20%, ░ 20-40%, ▒ 40-60%, ▓ 60-80%, █ 80-100%; each row sums to 100%")
    return Table(title=title, columns=["target", *headers],
                 rows=[[r, *row] for r, row in zip(rows, cells)], note=f"{legend}. {note}")


@dataclass
class Numbers:
    """What the toy-translator run measures; every numeric field is a `--json` metric."""

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
    # Cross-attention alignment, teacher forced, on correctly decoded held-out sentences only: the best
    # head is chosen on the selection split and scored on the scoring split (None when too few decode right).
    selection_sentences: int
    scoring_sentences: int
    decoder_heads: int
    best_layer: Optional[int] = None  # 1-based
    best_head: Optional[int] = None  # 1-based
    alignment_selection_best_head: Optional[float] = None  # the chosen head's share on the selection split
    alignment_best_head: Optional[float] = None  # its share on the scoring split
    alignment_mean: Optional[float] = None  # all heads' mean share on the scoring split
    alignment_hits: Optional[int] = None  # the chosen head's hits on the scoring split
    alignment_words: Optional[int] = None  # target words of the scoring split
    alignment_chance: Optional[float] = None  # mean of 1/S over those words: a uniformly random head's share
    alignment_chance_hits: Optional[float] = None  # sum of 1/S: the hits a random head is expected to score
    alignment_log10_p_value: Optional[float] = None  # one-sided exact test of hits against chance
    alignment_p_value: Optional[float] = None  # 10 ** log10 p; None below 1e-300, where only the log is exact
    alignment_scores: list[list[float]] = field(default_factory=list)  # (layers, heads) shares, scoring split
    # the walk-through of one held-out sentence
    source: list[str] = field(default_factory=list)
    target: list[str] = field(default_factory=list)
    alignment: list[int] = field(default_factory=list)
    decoded: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # the greedy output, </s> included
    decoded_correct: bool = False
    memory_shape: str = ""
    encoder_self_shape: str = ""
    decoder_self_shape: str = ""
    cross_shape: str = ""
    greedy_steps: int = 0
    step_rows: list[list[Any]] = field(default_factory=list)
    heatmap_head: str = ""  # which cross-attention the heatmap shows
    heatmap_rows: list[list[float]] = field(default_factory=list)  # (steps, S) weights
    last_prefix_words: int = 0
    last_self_top_words: list[str] = field(default_factory=list)  # the 3 prefix words weighed most, last step
    last_self_top_weights: dict[str, float] = field(default_factory=dict)  # keyed "1", "2", "3"
    sentence_hits: Optional[int] = None  # scored only when the walked sentence decoded correctly
    verb_source_position: Optional[int] = None  # 1-based
    verb_weight: Optional[float] = None  # the chosen head's weight on the verb when writing it
    verb_most_seen: str = ""


def analyse(trained: Trained, opts: TranslationOptions) -> Numbers:
    """Score cross-attention against the known alignment and walk one sentence: the numbers of the report."""
    model = trained.model
    correct = trained.correct or decoded_correctly(model, trained.test)
    matched = [s for s, ok in zip(trained.test, correct) if ok]
    # two disjoint splits of the correctly decoded sentences: one picks the head, the other scores it
    selection, scoring = matched[0::2], matched[1::2]
    layers = len(model.decoder)
    heads = model.decoder[0].cross_attn.num_heads
    n = Numbers(
        parameters=trained.parameters, train_seconds=round(trained.train_seconds, 2),
        test_sentences=len(trained.test), accuracy=round(trained.accuracy, 4), correct_sentences=len(matched),
        final_train_loss=round(trained.final_loss, 4), final_interval_mean_loss=round(trained.curve[-1][1], 4),
        loss_interval=trained.loss_interval,
        curve_rows=[[step, round(loss, 4), round(acc, 3)] for step, loss, acc in trained.curve],
        curve_sample=min(100, len(trained.test)),
        selection_sentences=len(selection), scoring_sentences=len(scoring), decoder_heads=layers * heads,
    )
    best = None
    if selection and scoring:
        selection_scores = alignment_scores(model, selection)  # (layers, heads)
        best = int(selection_scores.argmax())  # flat index into (layers, heads)
        best_layer, best_head = divmod(best, heads)
        hits, words = alignment_hits(model, scoring)  # (layers, heads), int
        chance = chance_hit_probabilities(scoring)
        k = int(hits[best_layer, best_head])
        log10_p = log10_tail_at_least(k, chance)
        n.best_layer, n.best_head = best_layer + 1, best_head + 1
        n.alignment_selection_best_head = round(float(selection_scores.flatten()[best]), 4)
        n.alignment_scores = (hits.float() / words).tolist()
        n.alignment_best_head = round(k / words, 4)
        n.alignment_mean = round(float(hits.float().mean()) / words, 4)
        n.alignment_hits, n.alignment_words = k, words
        n.alignment_chance, n.alignment_chance_hits = sum(chance) / len(chance), sum(chance)
        n.alignment_log10_p_value = log10_p
        n.alignment_p_value = 10 ** log10_p if log10_p > -300 else None  # below that a float reads 0.0
    # a correctly decoded sentence of the scoring split with adjectives to reorder, short enough for its
    # heatmap to fit an 80-column terminal (else any held-out sentence)
    fits = [s for s in scoring if len(s.source) <= 8 and any(w in ADJECTIVES for w in s.source)]
    sentence = max(fits[:40] or scoring[:1] or trained.test[:1], key=lambda s: len(s.source))
    path = walk(model, sentence)
    n.source, n.target, n.alignment, n.tokens = sentence.source, sentence.target, sentence.alignment, path["tokens"]
    n.decoded = [t for t in path["tokens"] if t != EOS]
    n.decoded_correct = n.decoded == sentence.target
    n.memory_shape, n.encoder_self_shape = str(path["memory_shape"]), str(path["encoder_self_shape"])
    n.decoder_self_shape, n.cross_shape = str(path["decoder_self_shape"]), str(path["cross_shape"])
    n.greedy_steps = len(path["steps"])
    if best is not None:  # the chosen head's row at every step: (steps, S)
        rows = [step["cross"][best_layer][best_head] for step in path["steps"]]
        n.heatmap_head = f"decoder layer {n.best_layer} head {n.best_head} (chosen on the selection split)"
    else:  # no head could be chosen: the last decoder layer, heads averaged
        rows = [step["cross"][-1].mean(0) for step in path["steps"]]
        n.heatmap_head = f"decoder layer {layers}, heads averaged"
    n.heatmap_rows = [row.tolist() for row in rows]
    self_last = path["steps"][-1]["self"][-1].mean(0)  # last decoder layer, heads averaged: (t,)
    last_prefix = path["steps"][-1]["prefix"]
    top3 = self_last.argsort(descending=True)[:3].tolist()
    n.last_prefix_words = len(last_prefix)
    n.last_self_top_words = [last_prefix[j] for j in top3]
    n.last_self_top_weights = {str(i + 1): float(self_last[j]) for i, j in enumerate(top3)}
    if best is not None and n.decoded_correct:  # alignment is scored only on a correct decoding
        n.sentence_hits = sum(int(row.argmax()) == a for row, a in zip(rows, sentence.alignment))
        verb_at = sentence.alignment[-1]  # the last target word is always the verb
        verb_row = rows[len(sentence.target) - 1]  # the step that writes the verb
        n.verb_source_position, n.verb_weight = verb_at + 1, float(verb_row[verb_at])
        n.verb_most_seen = sentence.source[int(verb_row.argmax())]
    step_rows = []
    for i, (step, row) in enumerate(zip(path["steps"], rows)):
        self_row = step["self"][-1].mean(0)  # (t,) last layer, heads averaged
        looked = max(range(len(step["prefix"])), key=lambda j: float(self_row[j]))
        step_rows.append([i + 1, " ".join(step["prefix"]), f"{step['prefix'][looked]} {float(self_row[looked]):.2f}",
                          f"{sentence.source[int(row.argmax())]} {float(row.max()):.2f}", step["token"],
                          round(step["prob"], 3)])
    n.step_rows = step_rows
    return n


def report_toy(n: Numbers, opts: TranslationOptions) -> Report:
    """The findings and tables of a toy-translator run, every number read from `n`."""
    S = len(n.source)
    scored = n.alignment_log10_p_value is not None
    tables = [
        Table("Training (teacher forcing, cross-entropy on the next target word)",
              ["step", f"mean loss, last {n.loss_interval} steps", f"exact match, {n.curve_sample} held-out"],
              n.curve_rows, note=f"the last step's own loss: {n.final_train_loss:.4f}"),
        Table("Tensor shapes in the walk-through", ["tensor", "shape", "meaning"], [
            ["source ids", f"(1, {S})", "one held-out sentence, S source words"],
            ["encoder memory", n.memory_shape, "one d_model vector per source word; computed once"],
            ["encoder self-attention", n.encoder_self_shape, "(batch, heads, S, S) per encoder layer"],
            ["decoder self-attention (last step)", n.decoder_self_shape,
             "(batch, heads, t, t), causal: each prefix position sees itself and the left"],
            ["cross-attention (last step)", n.cross_shape,
             "(batch, heads, t, S): queries from the decoder prefix, keys/values from the memory"],
            ["logits per step", f"(1, t, {len(TGT_VOCAB)})", "only the last position's row picks the next word"],
        ]),
        Table(f"Greedy decoding of '{' '.join(n.source)}'",
              ["step", "decoder input (prefix)", "self-attn: most-seen prefix word",
               "cross-attn: most-seen source word", "next word", "p"],
              n.step_rows, note=f"self-attention: last decoder layer, heads averaged, row of the newest position; "
                                f"cross-attention: {n.heatmap_head}"),
        heatmap(f"Cross-attention heatmap, {n.heatmap_head}",
                # the word produced, and (when it is the reference word) the source word it translates
                [f"{t} ← {n.source[n.alignment[i]]}" if i < len(n.target) and t == n.target[i] else t
                 for i, t in enumerate(n.tokens)],
                n.source, n.heatmap_rows,
                note="row = target word being produced (← the source word it translates), columns = source "
                     "words; cell = attention weight in %, each row sums to 100"),
    ]
    if scored:
        heads = len(n.alignment_scores[0])
        tables.append(Table(
            "Alignment on the scoring split: share of target words whose most-attended source word is their "
            "translation", ["decoder layer", *(f"head {h + 1}" for h in range(heads)), "mean"],
            [[f"layer {layer + 1}", *(round(v, 3) for v in row), round(sum(row) / heads, 3)]
             for layer, row in enumerate(n.alignment_scores)],
            note=f"{n.alignment_words} target words of {n.scoring_sentences} correctly decoded held-out sentences; "
                 f"the head was chosen on {n.selection_sentences} other ones; chance (1/S per word) "
                 f"{n.alignment_chance:.3f}"))
    findings = [
        f"A {opts.layers}+{opts.layers}-layer encoder-decoder ({n.parameters:,} parameters, d_model {opts.d_model}, "
        f"{opts.heads} heads) trained for {opts.steps} steps in {n.train_seconds:.1f} s (last step's training loss "
        f"{n.final_train_loss:.4f}) translates {n.correct_sentences} of {n.test_sentences} held-out sentences exactly "
        f"({n.accuracy:.1%}), although the target language moves adjectives after the noun and the verb to "
        "the end.",
        f"The encoder runs once: '{' '.join(n.source)}' ({S} words) becomes memory of shape "
        f"{n.memory_shape}, and every decoding step reads that same memory.",
        f"Each of the {n.greedy_steps} greedy steps feeds the prefix so far into the decoder: masked "
        f"self-attention over the prefix (shape {n.decoder_self_shape} at the last step), then "
        f"cross-attention with queries from the decoder and keys/values from the memory "
        f"(shape {n.cross_shape}), then the last position's logits pick the next word.",
        f"Greedy output: '{' '.join(n.decoded)}' (reference '{' '.join(n.target)}', "
        f"{'correct' if n.decoded_correct else 'wrong'}); at the last step the decoder's self-attention "
        f"(last layer, heads averaged) over its {n.last_prefix_words}-word prefix puts most weight on "
        + ", ".join(f"'{word}' {n.last_self_top_weights[str(i + 1)]:.2f}"
                    for i, word in enumerate(n.last_self_top_words)) + ".",
    ]
    if scored:
        findings.append(
            f"Cross-attention, scored only on sentences decoded correctly (the attention the translation was "
            f"made with): decoder layer {n.best_layer} head {n.best_head}, chosen as the best of {n.decoder_heads} "
            f"heads on {n.selection_sentences} of them ({n.alignment_selection_best_head:.1%} there), puts its "
            f"largest weight on the source word a target word translates for {n.alignment_best_head:.1%} "
            f"({n.alignment_hits} of {n.alignment_words}) of the target words of the other "
            f"{n.scoring_sentences}; a head whose largest weight fell on a random source word would hit "
            f"{n.alignment_chance:.1%} ({n.alignment_chance_hits:.1f} expected). By an exact one-sided test "
            f"against that chance it {alignment_verdict(n.alignment_log10_p_value)}. Mean over all "
            f"{n.decoder_heads} heads on the scoring split: {n.alignment_mean:.1%}.")
        if n.sentence_hits is not None:
            findings.append(
                f"In the walked sentence (decoded correctly) the chosen head's most-attended source word is the "
                f"aligned one for {n.sentence_hits} of {len(n.target)} target words; writing the verb, moved from "
                f"source position {n.verb_source_position} to the end, it puts {n.verb_weight:.0%} of its weight "
                f"on '{n.source[n.verb_source_position - 1]}' (most on '{n.verb_most_seen}').")
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
                  f"{n.alignment_best_head:.1%} of held-out target words (chance {n.alignment_chance:.1%})."
                  if scored else "; too few sentences decode correctly to score its alignment."))
    return Report(summary, findings, tables, model="toy encoder-decoder (trained in this run)")


# ---------------------------------------------------------------------------------------------
# --model PATH: the same walk on a real Hugging Face encoder-decoder
# ---------------------------------------------------------------------------------------------

def walk_hf(opts: TranslationOptions, ctx: Context) -> HfNumbers:
    """Greedy decoding on a local Hugging Face encoder-decoder, step by step, keeping its attention maps."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    folder = str(Path(opts.model).expanduser().resolve())
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read the config in {folder!r}: {str(exc).splitlines()[0]}") from exc
    if not getattr(config, "is_encoder_decoder", False):
        raise ProbeError(f"--model {folder!r} is a {config.model_type!r} model, not an encoder-decoder; "
                         "pass a Marian, T5, BART or other seq2seq folder")
    tokenizer_files = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                       "source.spm")
    if not any((Path(folder) / name).is_file() for name in tokenizer_files):
        raise ProbeError(f"--model {folder!r} has no tokenizer files ({', '.join(tokenizer_files)}); "
                         "save the model's tokenizer into the same folder (tokenizer.save_pretrained)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise ProbeError(f"no usable tokenizer in {folder!r} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                         "save the model's tokenizer into the same folder (tokenizer.save_pretrained)") from exc
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, local_files_only=True, attn_implementation="eager")
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load a seq2seq model from {folder!r}: {str(exc).splitlines()[0]}") from exc
    model.eval()
    advance = ctx.task("greedy decoding", opts.max_new_tokens)
    encoded = tokenizer(opts.text, return_tensors="pt")
    # only what an encoder-decoder takes (a BERT-style tokenizer would add token_type_ids)
    enc = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    source = tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    start_id = model.config.decoder_start_token_id
    if start_id is None:
        start_id = model.config.pad_token_id
    eos_id = model.config.eos_token_id
    steps = []
    with torch.no_grad():
        encoder_out = model.get_encoder()(**enc)  # last_hidden_state (1, S, d_model)
        memory = encoder_out.last_hidden_state
        prefix = [int(start_id)]
        for _ in range(opts.max_new_tokens):
            out = model(encoder_outputs=encoder_out, attention_mask=enc["attention_mask"],
                        decoder_input_ids=torch.tensor([prefix]), output_attentions=True)
            # out.cross_attentions: per decoder layer (1, heads, t, S); out.decoder_attentions: (1, heads, t, t)
            probs = out.logits[0, -1].softmax(-1)  # (vocab,)
            next_id = int(probs.argmax())
            steps.append({"prefix": list(prefix), "token": next_id, "prob": float(probs[next_id]),
                          "cross": torch.stack(out.cross_attentions)[:, 0, :, -1, :],  # (layers, heads, S)
                          "self": torch.stack(out.decoder_attentions)[:, 0, :, -1, :]})  # (layers, heads, t)
            prefix.append(next_id)
            advance(1)
            if eos_id is not None and next_id == eos_id:
                break
        generated = model.generate(**enc, max_new_tokens=opts.max_new_tokens, do_sample=False, num_beams=1)
    ours = prefix[1:]
    theirs = generated[0, 1:].tolist()[:len(ours)]
    target = tokenizer.convert_ids_to_tokens(ours)
    step_rows = []
    for i, s in enumerate(steps):
        row = s["cross"][-1].mean(0)  # last layer, heads averaged: (S,)
        step_rows.append([i + 1, " ".join(tokenizer.convert_ids_to_tokens(s["prefix"])),
                          f"{source[int(row.argmax())]} {float(row.max()):.2f}", target[i], round(s["prob"], 3)])
    return HfNumbers(
        steps=len(steps), source_tokens=len(source), decoder_layers=len(out.cross_attentions),
        heads=out.cross_attentions[0].shape[1], d_model=int(memory.shape[-1]), matches_generate=ours == theirs,
        model_type=config.model_type, folder=folder, source=source, target=target,
        text=tokenizer.decode(ours, skip_special_tokens=True),
        source_shape=str(tuple(enc["input_ids"].shape)), memory_shape=str(tuple(memory.shape)),
        self_shape=str(tuple(out.decoder_attentions[0].shape)), cross_shape=str(tuple(out.cross_attentions[0].shape)),
        logits_shape=str(tuple(out.logits.shape)), step_rows=step_rows,
        last_layer_cross=[s["cross"][-1].mean(0).tolist() for s in steps],
    )


@dataclass
class HfNumbers:
    """What the walk of a local Hugging Face encoder-decoder measures (`--model PATH`)."""

    steps: int
    source_tokens: int
    decoder_layers: int
    heads: int
    d_model: int
    matches_generate: bool  # our step-by-step greedy tokens == model.generate(num_beams=1)
    model_type: str
    folder: str
    source: list[str]
    target: list[str]
    text: str
    source_shape: str
    memory_shape: str
    self_shape: str
    cross_shape: str
    logits_shape: str
    step_rows: list[list[Any]]
    last_layer_cross: list[list[float]]  # (steps, S), last decoder layer, heads averaged


def report_hf(n: HfNumbers, opts: TranslationOptions) -> Report:
    tables = [
        Table("Tensor shapes", ["tensor", "shape"], [
            ["source ids", n.source_shape],
            ["encoder memory (last_hidden_state)", n.memory_shape],
            ["decoder self-attention, per layer (last step)", n.self_shape],
            ["cross-attention, per layer (last step)", n.cross_shape],
            ["logits (last step)", n.logits_shape],
        ]),
        Table("Greedy decoding, step by step", ["step", "decoder input (prefix)",
                                                "cross-attn (last layer, heads avg): most-seen source token",
                                                "next token", "p"], n.step_rows),
        heatmap("Cross-attention heatmap, last decoder layer, heads averaged", n.target, n.source,
                n.last_layer_cross,
                note="row = token produced, columns = source tokens; cell = weight in %, each row sums to 100"),
    ]
    findings = [
        f"The encoder turns {n.source_tokens} source tokens into memory of shape {n.memory_shape}, computed once.",
        f"Each of {n.steps} greedy steps runs the decoder on the prefix: self-attention (shape {n.self_shape} at "
        f"the last step) and cross-attention into the memory (shape {n.cross_shape}) in each of {n.decoder_layers} "
        f"layers with {n.heads} heads.",
        f"Greedy output: {n.text!r}; it {'equals' if n.matches_generate else 'differs from'} "
        "model.generate(num_beams=1) token for token.",
        "No reference alignment is known for this sentence, so alignment is not scored; read it off the heatmap.",
    ]
    return Report(f"{n.model_type} decoder reading its encoder memory through cross-attention, "
                  f"{n.steps} greedy steps.", findings, tables, model=n.folder)


def measure(opts: TranslationOptions, ctx: Context) -> Numbers | HfNumbers:
    if opts.model is not None:
        return walk_hf(opts, ctx)
    return analyse(train(opts, ctx), opts)


def report(numbers: Numbers | HfNumbers, opts: TranslationOptions) -> Report:
    if isinstance(numbers, HfNumbers):
        return report_hf(numbers, opts)
    return report_toy(numbers, opts)


PROBE = Probe(
    name="translation",
    question="encoder-decoder",
    title="Train a toy translator live; watch the decoder's cross-attention read the encoder memory",
    options=TranslationOptions,
    measure=measure,
    report=report,
    check=check,
    threads=1,  # a tiny model: one thread is faster than two (see Probe.threads)
    predictions=(
        Prediction("A 2+2-layer toy translator trains for 300 steps: what share of held-out sentences does it "
                   "translate exactly?", "accuracy", "(share)"),
    ),
)
