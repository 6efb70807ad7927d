"""Encoder-decoder helpers shared by the translation probes: the toy language pair the toy translator
learns (its word alignment known by construction), a tiny random T5 to walk when no model folder
is given, the loader of a local Hugging Face seq2seq folder, and the target x source heatmap table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Table

# --- The toy language pair ------------------------------------------------------------------------
# Every source word has exactly one target word, so the alignment of a sentence is a permutation we
# know: target word j translates source word alignment[j]. The target language puts adjectives after
# the noun, in reverse order, and the verb at the end of the sentence.

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
SHADES = " ░▒▓█"  # heatmap cells, lightest to darkest: one step per 20% of weight


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



# --- The cross-attention heatmap ------------------------------------------------------------------

def shade(weight: float) -> str:
    return SHADES[min(len(SHADES) - 1, int(weight * len(SHADES)))]


def heatmap_table(title: str, rows: list[str], columns: list[str], weights, note: str) -> Table:
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


# --- Hugging Face encoder-decoders ----------------------------------------------------------------
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "source.spm")


def tiny_t5(seed: int = 0):
    """A randomly initialised tiny T5 (2+2 layers, d_model 32, 4 heads) with the bundled MiniLM tokenizer.

    Random weights: its translations are noise, its mechanics (shapes, cross-attention rows, the cache of
    the encoder memory) are those of any T5. Returns (model in eval mode, tokenizer).
    """
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from n00bqa.probes.lib.models import load_tokenizer

    tokenizer = load_tokenizer(None)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=tokenizer.vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2,
                      num_decoder_layers=2, num_heads=4, pad_token_id=tokenizer.pad_token_id,
                      eos_token_id=tokenizer.sep_token_id, decoder_start_token_id=tokenizer.pad_token_id)
    config._attn_implementation = "eager"  # the attention weights are returned, not fused away
    return T5ForConditionalGeneration(config).eval(), tokenizer


def check_seq2seq_folder(folder: str) -> None:
    """Refuse, in one line, a --model folder that is not a Hugging Face model folder (no config.json)."""
    if not (Path(folder).expanduser() / "config.json").is_file():
        raise ProbeError(f"--model {folder!r} is not a Hugging Face model folder (no config.json); "
                         "pass a local encoder-decoder folder such as a saved Marian or T5 model")


def load_seq2seq(folder: str):
    """A local Hugging Face encoder-decoder (Marian, T5, BART, ...) and its tokenizer, eager attention.

    Raises ProbeError naming the folder and the fix when the config is unreadable, the model is not
    an encoder-decoder, or the tokenizer files are missing. Returns (model in eval mode, tokenizer, folder).
    """
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    folder = str(Path(folder).expanduser().resolve())
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot read the config in {folder!r}: {str(exc).splitlines()[0]}") from exc
    if not getattr(config, "is_encoder_decoder", False):
        raise ProbeError(f"--model {folder!r} is a {config.model_type!r} model, not an encoder-decoder; "
                         "pass a Marian, T5, BART or other seq2seq folder")
    if not any((Path(folder) / name).is_file() for name in TOKENIZER_FILES):
        raise ProbeError(f"--model {folder!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)}); "
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
    return model.eval(), tokenizer, folder
