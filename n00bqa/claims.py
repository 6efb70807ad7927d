"""Living numbers: each number our notes and answers quote about the installed libraries (or a
probe's measurement) is tied to the computation that gives it, so it cannot drift unseen.

`corpus/claims.yaml` lists claims: a file, a quote from it (whitespace-insensitive), and for each
number in the quote, in order, the source that recomputes it:

    - file: corpus/notes/hf-trainer.md
      quote: "4,812 lines in the installed 5.25"
      sources: ["lines transformers trainer.py", "version transformers"]

A source is a small function over the installed packages (`lines`, `field_default`, ... below),
`metric PROBE KEY` (the probe's metric at its default options: the caller passes `metrics`, and the
test reads one session run of each probe), or `label` (a number that belongs to the words, such as
the 1 of "stage 1": not checked).

`check_claims(root)` recomputes every source and returns one line per quote that no longer holds,
naming the sentence to update and the value now. tests/test_claims.py runs it on the built-in
study, so a library upgrade that moves a number fails the suite with that line. Published figures
(papers, model cards) are cited in the notes and are not claims: they do not move with a version.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

import yaml

from n00bqa.errors import N00bqaError


class ClaimError(N00bqaError):
    """claims.yaml is malformed or names an unknown source."""


@dataclass(frozen=True)
class Claim:
    file: str  # relative to the study root
    quote: str  # text of the file (whitespace-insensitive) holding the numbers
    sources: tuple[str, ...]  # one per number in the quote, in order


def _package_dir(dist: str) -> Path:
    module = import_module(dist.replace("-", "_"))
    return Path(module.__file__).parent


def _version(dist: str) -> str:
    from importlib.metadata import version

    major, minor, *_ = version(dist).split(".")
    return f"{major}.{minor}"


def _lines(dist: str, relpath: str) -> int:
    return len((_package_dir(dist) / relpath).read_text(encoding="utf-8").splitlines())


def _line_of(dist: str, relpath: str, prefix: str) -> int:
    lines = (_package_dir(dist) / relpath).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(prefix))


def _files(dist: str, pattern: str) -> int:
    return len(list(_package_dir(dist).glob(pattern)))


def _files_containing(dist: str, pattern: str, text: str, head: str = "3000") -> int:
    return sum(text in p.read_text(encoding="utf-8")[:int(head)] for p in _package_dir(dist).glob(pattern))


def _occurrences(dist: str, relpath: str, text: str) -> int:
    return (_package_dir(dist) / relpath).read_text(encoding="utf-8").count(text)


def _len(module: str, attr: str) -> int:
    return len(getattr(import_module(module), attr))


def _field_default(module: str, cls: str, name: str) -> Any:
    import dataclasses

    field = next(f for f in dataclasses.fields(getattr(import_module(module), cls)) if f.name == name)
    return field.default


def _attr(module: str, name: str) -> Any:
    return getattr(import_module(module), name)


def _param_default(module: str, qualname: str, param: str) -> Any:
    import inspect

    target: Any = import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return inspect.signature(target).parameters[param].default


@cache
def _gguf_reader(path: str):
    """One parse per file and process (the header of the bundled GGUF takes seconds to read)."""
    from gguf import GGUFReader

    if not path:
        from n00bqa.probes.lib.causal_lm import bundled_gguf

        return GGUFReader(bundled_gguf())
    return GGUFReader(path)


def _gguf_params(path: str = "") -> int:
    """Numbers stored in a GGUF file's tensors (the bundled SmolLM2-135M's when no path is given)."""
    import math

    return sum(math.prod(int(d) for d in tensor.shape) for tensor in _gguf_reader(path).tensors)


def _gguf_field(key: str, path: str = "") -> Any:
    """One value of a GGUF file's header, e.g. `llama.vocab_size` (the bundled SmolLM2's by default)."""
    field = _gguf_reader(path).fields[key]
    return field.parts[field.data[0]].tolist()[0]


def _mc_head_params(model_type: str, hidden: str) -> int:
    """Parameters the installed transformers' multiple-choice class adds on top of its bare model,
    for a model type at width `hidden` (built on the meta device: shapes only, no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForMultipleChoice

    config = AutoConfig.for_model(model_type, hidden_size=int(hidden), num_hidden_layers=1, num_attention_heads=1,
                                  intermediate_size=4, vocab_size=8)
    with torch.device("meta"):
        model = AutoModelForMultipleChoice.from_config(config)
    return (sum(p.numel() for p in model.parameters())
            - sum(p.numel() for p in model.base_model.parameters()))


def _tokenizer_attr(name: str) -> Any:
    """An attribute of the bundled MiniLM's tokenizer as AutoTokenizer loads it (`model_max_length`)."""
    from n00bqa.probes.lib.models import load_tokenizer

    return getattr(load_tokenizer(None), name)


def _truncated_ids(words: str) -> int:
    """How many ids the bundled MiniLM's tokenizer returns for `words` copies of "word" with
    `truncation=True` and no length given (so its own limit applies)."""
    from n00bqa.probes.lib.models import load_tokenizer

    return len(load_tokenizer(None)(" ".join(["word"] * int(words)), truncation=True)["input_ids"])


# The multiple-choice batch corpus/notes/hf-trainer.md describes: two questions, three answers each.
MC_EXAMPLES = (("Which organ pumps blood around the body?", ("the heart", "the lungs", "the liver"), 0),
               ("What do plants make from sunlight?", ("sugar, by photosynthesis", "salt", "iron"), 0))


def _mc_collator_shape(axis: str) -> int:
    """One axis of `input_ids` that the installed DataCollatorForMultipleChoice gives for MC_EXAMPLES,
    tokenised as (question, answer) pairs by the bundled MiniLM's tokenizer: [examples, choices, seq]."""
    from transformers import DataCollatorForMultipleChoice

    from n00bqa.probes.lib.models import load_tokenizer

    tokenizer = load_tokenizer(None)
    rows = [{**tokenizer([question] * len(answers), list(answers)), "label": label}  # the collator needs a label
            for question, answers, label in MC_EXAMPLES]
    batch = DataCollatorForMultipleChoice(tokenizer, return_tensors="pt")(rows)
    return int(batch["input_ids"].shape[int(axis)])


def _published_config(name: str, field: str) -> Any:
    """A field of the published config the probes build `name` from (n00bqa.probes.lib.configs), read
    through the installed transformers' config class; `a.b` reads key b of dict field a."""
    from n00bqa.probes.lib.configs import published_configs

    value: Any = published_configs()[name][0]
    for part in field.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


SOURCES: dict[str, Callable[..., Any]] = {
    "version": _version,  # version DIST -> "5.25"
    "lines": _lines,  # lines DIST RELPATH -> line count of an installed file
    "line_of": _line_of,  # line_of DIST RELPATH PREFIX -> first line starting with PREFIX
    "files": _files,  # files DIST GLOB -> how many installed files match
    "files_containing": _files_containing,  # files_containing DIST GLOB TEXT [HEAD] -> files with TEXT in their head
    "occurrences": _occurrences,  # occurrences DIST RELPATH TEXT -> times TEXT occurs in a file
    "len": _len,  # len MODULE ATTR -> len(module.attr)
    "field_default": _field_default,  # field_default MODULE CLASS FIELD -> a dataclass field's default
    "attr": _attr,  # attr MODULE NAME -> a module constant, e.g. torch's _DEFAULT_BUCKET_CAP_MB
    "param_default": _param_default,  # param_default MODULE QUALNAME PARAM -> a function parameter's default
    "gguf_params": _gguf_params,  # gguf_params [PATH] -> numbers in a GGUF's tensors (default: the bundled SmolLM2)
    "gguf_field": _gguf_field,  # gguf_field KEY [PATH] -> a GGUF header value, e.g. llama.vocab_size
    "mc_head_params": _mc_head_params,  # mc_head_params MODEL_TYPE HIDDEN -> weights the multiple-choice class adds
    "tokenizer_attr": _tokenizer_attr,  # tokenizer_attr NAME -> an attribute of the bundled MiniLM tokenizer
    "published_config": _published_config,  # published_config NAME FIELD -> the probes' copy of a model's config
    "mc_collator_shape": _mc_collator_shape,  # mc_collator_shape AXIS -> DataCollatorForMultipleChoice's input_ids axis
    "truncated_ids": _truncated_ids,  # truncated_ids WORDS -> ids MiniLM's tokenizer keeps of WORDS words
}
# Two kinds more, handled by `evaluate`: `metric PROBE KEY` (a metric of the probe's run at its
# defaults, which the caller supplies), and `label` (a number that is part of the words, such as
# "stage 1" or "d_k = 8", not a measurement: never checked).


def evaluate(source: str, metrics: Callable[[str, str], Any] | None = None) -> Any:
    """The value a source gives now. `metric PROBE KEY` needs `metrics(probe, key)` (a probe run)."""
    kind, *args = shlex.split(source)
    if kind == "label":
        return None
    if kind == "metric":
        if metrics is None:
            raise ClaimError(f"{source!r}: a probe metric needs a run of the probe")
        return metrics(*args)
    if kind not in SOURCES:
        raise ClaimError(f"unknown claim source {kind!r} in {source!r}; known: {', '.join(sorted(SOURCES))}, "
                         f"metric, label")
    return SOURCES[kind](*args)


def load_claims(root: Path) -> list[Claim]:
    path = root / "corpus" / "claims.yaml"
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    claims = []
    for i, item in enumerate(data.get("claims") or [], 1):
        try:
            claims.append(Claim(str(item["file"]), str(item["quote"]), tuple(item["sources"])))
        except (KeyError, TypeError):
            raise ClaimError(f"{path}: claim {i} needs file, quote and sources") from None
    return claims


def _squash(text: str) -> str:
    return " ".join(text.split())


def check_claim(root: Path, claim: Claim, metrics: Callable[[str, str], Any] | None = None) -> list[str]:
    """What no longer holds about one claim (empty when it holds)."""
    from n00bqa.probes.base import _printed_matches, numbers_in

    target = root / claim.file
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        return [f"{claim.file}: cannot read it ({exc.strerror})"]
    quote = claim.quote
    if _squash(quote) not in _squash(text):
        # the same words with other numbers (a number edited in the note, not in claims.yaml): check the
        # numbers the file now prints, so the message says which one is wrong
        quote = _reworded_numbers(quote, _squash(text))
        if quote is None:
            return [f"{claim.file}: the quote {claim.quote!r} is no longer in the file; update corpus/claims.yaml"]
    printed = numbers_in(quote)
    if len(printed) != len(claim.sources):
        return [f"{claim.file}: {claim.quote!r} prints {len(printed)} numbers but names {len(claim.sources)} sources"]
    problems = []
    for shown, source in zip(printed, claim.sources):
        try:
            value = evaluate(source, metrics)
        except ClaimError:
            raise
        except (N00bqaError, OSError) as exc:  # e.g. the bundled model's package is not installed here
            problems.append(f"{claim.file}: {claim.quote!r}: `{source}` cannot be computed here ({exc})")
            continue
        if value is None:  # a label: part of the words
            continue
        holds = shown == value if isinstance(value, str) else _printed_matches(shown, float(value))
        if not holds:
            now = value if isinstance(value, str) else f"{value:,}" if isinstance(value, int) else f"{value:g}"
            problems.append(f"{claim.file}: {quote!r} says {shown} but `{source}` gives {now} now; "
                            f"update that sentence and its quote in corpus/claims.yaml")
    if quote != claim.quote and not problems:
        problems.append(f"{claim.file}: the file now says {quote!r}, which holds; corpus/claims.yaml still "
                        f"quotes {claim.quote!r}: update the quote")
    return problems


def _reworded_numbers(quote: str, text: str) -> str | None:
    """The passage of `text` (squashed) that reads as `quote` with only its numbers changed, or None."""
    from n00bqa.probes.base import _NUMBER

    squashed, pattern, at = _squash(quote), [], 0
    for match in _NUMBER.finditer(squashed):
        pattern += [re.escape(squashed[at:match.start(1)]), _NUMBER.pattern]
        at = match.end(1)
    if not pattern:
        return None
    found = re.search("".join(pattern) + re.escape(squashed[at:]), text)
    return found.group(0) if found else None


def check_claims(root: Path, metrics: Callable[[str, str], Any] | None = None) -> list[str]:
    """Every claim of the study root at `root` that no longer holds, one line each."""
    return [line for claim in load_claims(root) for line in check_claim(root, claim, metrics)]
