"""Routing evaluation for `n00bqa ask`: top-1 accuracy and off-topic rejection, tune vs report split.

    python benchmarks/routing_eval.py                 # the shipped FIELDS/THRESHOLD, both splits
    python benchmarks/routing_eval.py --tune          # choose a threshold on the tune split only
    python benchmarks/routing_eval.py --variants      # compare field sets (each tuned on tune split)
    python benchmarks/routing_eval.py --json

Top-1 accuracy: share of labelled queries routed (score >= threshold) to their labelled question.
Rejection rate: share of `none` queries whose best score stays below the threshold.
The threshold is chosen on the tune split; the report split is only ever scored. The questions
are the study root's (`--root`, else N00BQA_ROOT, the current folder or the project's own).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

HERE = Path(__file__).resolve().parent
EVAL_FILE = HERE / "routing_eval.yaml"
# (field kinds, lexical weight) pairs compared by --variants; the shipped one was the best on tune.
VARIANTS: list[tuple[tuple[str, ...], float]] = [
    (("question",), 0.0),
    (("question", "answer", "tags"), 0.0),
    (("question", "answer", "paragraphs"), 0.0),
    (("question", "answer", "tags", "paragraphs", "sentences"), 0.0),
    (("question", "answer", "tags", "asks"), 0.0),
    (("question", "answer", "paragraphs"), 0.1),
    (("question", "answer", "paragraphs"), 0.2),
    (("question", "answer", "paragraphs"), 0.3),
    (("question", "answer", "tags", "paragraphs", "sentences"), 0.2),
]


def load_items(path: Path = EVAL_FILE) -> list[dict[str, str]]:
    items = yaml.safe_load(path.read_text())["items"]
    for item in items:
        if item["split"] not in ("tune", "report"):
            raise ValueError(f"item {item['query']!r}: split must be tune or report")
    return items


def score_items(study, items: list[dict[str, str]], fields: Sequence[str], lexical_weight: float) -> list[dict[str, Any]]:
    """For each query: the best question id of the study root (ignoring the threshold) and its score."""
    from n00bqa.ask.routing import question_vectors, rank
    from n00bqa.questions import load_questions
    from n00bqa.retrieval import encoder

    questions, _ = load_questions(study)
    vectors = question_vectors(study, questions, fields=fields, cache=False, lexical_weight=lexical_weight)
    query_vectors = encoder.encode(study, [item["query"] for item in items])  # (n_items, dim)
    scored = []
    for item, vector in zip(items, query_vectors):
        ranked = rank(vectors, vector, item["query"], threshold=-1.0).ranked
        scored.append({**item, "best": ranked[0][0].id, "score": ranked[0][1],
                       "margin": ranked[0][1] - ranked[1][1] if len(ranked) > 1 else 1.0})
    return scored


def marks(scored: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Top-1 accuracy (with the threshold applied) and the rejection rate of off-topic queries."""
    on = [s for s in scored if s["expect"] != "none"]
    off = [s for s in scored if s["expect"] == "none"]
    correct = [s for s in on if s["score"] >= threshold and s["best"] == s["expect"]]
    rejected = [s for s in off if s["score"] < threshold]
    return {
        "threshold": round(threshold, 4),
        "n_labelled": len(on),
        "n_off_topic": len(off),
        "top1": len(correct) / len(on) if on else 0.0,
        "top1_without_threshold": sum(s["best"] == s["expect"] for s in on) / len(on) if on else 0.0,
        "rejection": len(rejected) / len(off) if off else 1.0,
        "misses": [
            {"query": s["query"], "expect": s["expect"],
             "got": s["best"] if s["score"] >= threshold else "none", "score": round(s["score"], 4)}
            for s in scored
            if (s["expect"] == "none") != (s["score"] < threshold)
            or (s["expect"] != "none" and s["best"] != s["expect"])
        ],
    }


def tune_threshold(scored: list[dict[str, Any]]) -> float:
    """The threshold that gets the most tune-split items right; ties go to the middle of the gap.

    Only scores of tune items are candidates, so nothing about the report split leaks in.
    """
    candidates = sorted({round(s["score"], 6) for s in scored})
    best_right, best_range = -1, (0.0, 0.0)
    # A threshold just above each score, or at the lowest score (accept everything).
    cuts = [candidates[0]] + [c + 1e-6 for c in candidates]
    for cut in cuts:
        m = marks(scored, cut)
        right = m["top1"] * m["n_labelled"] + m["rejection"] * m["n_off_topic"]
        if right > best_right + 1e-9:
            best_right, best_range = right, (cut, cut)
        elif abs(right - best_right) < 1e-9 and best_range[1] == _previous(cuts, cut):
            best_range = (best_range[0], cut)  # extend a run of equally good cuts
    low, high = best_range
    # The middle of the gap between the last score below and the first score at or above.
    below = max((c for c in candidates if c < low), default=low)
    above = min((c for c in candidates if c >= high), default=high)
    return round((below + above) / 2, 4)


def _previous(cuts: list[float], cut: float) -> float:
    index = cuts.index(cut)
    return cuts[index - 1] if index else cut


def evaluate(study, fields: Sequence[str] | None = None, lexical_weight: float | None = None,
             threshold: float | None = None, tune: bool = False,
             items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Score both splits on the study root's questions. `tune=True` chooses the threshold on the
    tune split first. `items` defaults to every item of routing_eval.yaml."""
    from n00bqa.ask import routing

    fields = tuple(fields or routing.FIELDS)
    lexical_weight = routing.LEXICAL_WEIGHT if lexical_weight is None else lexical_weight
    items = load_items() if items is None else items
    scored = score_items(study, items, fields, lexical_weight)
    tune_scored = [s for s in scored if s["split"] == "tune"]
    report_scored = [s for s in scored if s["split"] == "report"]
    if tune:
        threshold = tune_threshold(tune_scored)
    elif threshold is None:
        threshold = routing.THRESHOLD
    return {
        "fields": list(fields),
        "lexical_weight": lexical_weight,
        "threshold": threshold,
        "tuned": tune,
        "tune": marks(tune_scored, threshold),
        "report": marks(report_scored, threshold),
    }


def _print(result: dict[str, Any], quiet: bool = False) -> None:
    print(f"fields={','.join(result['fields'])} lexical_weight={result['lexical_weight']} threshold={result['threshold']}"
          f"{' (tuned on the tune split)' if result['tuned'] else ' (shipped routing.THRESHOLD)'}")
    for split in ("tune", "report"):
        m = result[split]
        print(f"  {split:6s}: top-1 {m['top1']:.1%} of {m['n_labelled']} "
              f"(without threshold {m['top1_without_threshold']:.1%}), "
              f"off-topic rejected {m['rejection']:.1%} of {m['n_off_topic']}")
        for miss in [] if quiet else m["misses"]:
            print(f"           miss: {miss['query']!r} expected {miss['expect']}, got {miss['got']} ({miss['score']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="choose the threshold on the tune split")
    parser.add_argument("--variants", action="store_true", help="compare field sets, each tuned on the tune split")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quiet", action="store_true", help="do not list the misses")
    parser.add_argument("--root", help="the study root whose questions are routed (default: as n00bqa finds it)")
    args = parser.parse_args(argv)
    from n00bqa.study import Study

    study = Study.find(args.root)
    if args.variants:
        results = [evaluate(study, fields, weight, tune=True) for fields, weight in VARIANTS]
    else:
        results = [evaluate(study, tune=args.tune)]
    if args.json:
        print(json.dumps(results if args.variants else results[0], indent=2))
    else:
        for result in results:
            _print(result, quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
