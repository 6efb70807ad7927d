"""Routing evaluation for `n00bqa ask`: top-1 accuracy and rejection of `none`, tune vs report split.

    python benchmarks/routing_eval.py                 # the shipped FIELDS/THRESHOLD, both splits
    python benchmarks/routing_eval.py --tune          # choose a threshold on the tune split only
    python benchmarks/routing_eval.py --variants      # compare field sets (each tuned on tune split)
    python benchmarks/routing_eval.py --select        # the selection rule below, on the tune split only
    python benchmarks/routing_eval.py --json

Top-1 accuracy: share of labelled queries routed (score >= threshold) to their labelled question.
Top-3: share whose labelled question is among the three best-scored, whatever the score.
Rejection rate: share of `none` queries whose best score stays below the threshold, for the two
kinds of `none` apart: off-topic ("rejection") and in the field but covered by no question
("uncovered_rejection", the items marked `uncovered: true`).
The threshold is chosen on the tune split; the report split is only ever scored. The questions
are the study root's (`--root`, else N00BQA_ROOT, the current folder or the project's own).

The selection rule behind routing.FIELDS / LEXICAL_WEIGHT / THRESHOLD (`--select`), fixed before
any report-split run of it:
  1. every config of GRID (each non-empty set of the field kinds in GRID_KINDS x each lexical
     weight in GRID_WEIGHTS x each absent-word factor in GRID_ABSENT) gets its threshold from
     `tune_threshold` on the tune split alone: the best balanced accuracy (mean of top-1 with the
     threshold and the rejection of `none`, itself the mean of the off-topic and the uncovered
     rejection rates), among equals the middle of the widest run of equally good cuts;
  2. the configs within SELECT_TOLERANCE of the best tune balanced accuracy (about one tune query)
     are candidates; the one with the fewest field kinds wins, then the smallest absent-word
     factor (1 is the plain IDF, no extension), then the widest tune gap between the lowest
     correctly routed labelled score and the highest `none` score, relative to the spread (std)
     of the correctly routed scores;
  3. only the winner (and the shipped settings) are then scored on the report split.
The absent-word factor (routing.ABSENT_WEIGHT) multiplies the IDF weight of a query word that no
question has: a word the list never uses says the query is about something else. It and the
uncovered kind of `none` were added together (issue 16), before any run of this rule on them.
The "asks" kind is left out of GRID_KINDS: the example queries in the Try sections repeat eval
queries (one report query word for word), so its tune gain would not be a learner's.
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
# (field kinds, lexical weight) pairs compared by --variants (each threshold tuned on tune); the
# shipped routing.FIELDS / LEXICAL_WEIGHT come from --select (the rule below), the last row here.
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
    (("question", "paragraphs"), 0.6),
]


GRID_KINDS = ("question", "answer", "paragraphs", "sentences", "tags")
GRID_WEIGHTS = tuple(round(0.05 * i, 2) for i in range(21))  # 0.0 .. 1.0
GRID_ABSENT = (1.0, 1.5, 2.0, 3.0, 4.0)
SELECT_TOLERANCE = 0.005


def load_items(path: Path = EVAL_FILE) -> list[dict[str, str]]:
    items = yaml.safe_load(path.read_text())["items"]
    for item in items:
        if item["split"] not in ("tune", "report"):
            raise ValueError(f"item {item['query']!r}: split must be tune or report")
    return items


def score_items(study, items: list[dict[str, str]], fields: Sequence[str], lexical_weight: float,
                absent_weight: float = 1.0) -> list[dict[str, Any]]:
    """For each query: the best question id of the study root (ignoring the threshold) and its score."""
    from n00bqa.ask.routing import question_vectors, rank
    from n00bqa.questions import load_questions
    from n00bqa.retrieval import encoder

    questions, _ = load_questions(study)
    vectors = question_vectors(study, questions, fields=fields, cache=False, lexical_weight=lexical_weight,
                               absent_weight=absent_weight)
    query_vectors = encoder.encode(study, [item["query"] for item in items])  # (n_items, dim)
    scored = []
    for item, vector in zip(items, query_vectors):
        ranked = rank(vectors, vector, item["query"], threshold=-1.0).ranked
        scored.append({**item, "best": ranked[0][0].id, "score": ranked[0][1], "top3": [q.id for q, _ in ranked[:3]],
                       "margin": ranked[0][1] - ranked[1][1] if len(ranked) > 1 else 1.0})
    return scored


def marks(scored: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Top-1 accuracy (with the threshold applied) and the rejection rates of off-topic queries and of
    in-field queries no question covers."""
    on = [s for s in scored if s["expect"] != "none"]
    off = [s for s in scored if s["expect"] == "none" and not s.get("uncovered")]
    uncovered = [s for s in scored if s["expect"] == "none" and s.get("uncovered")]
    correct = [s for s in on if s["score"] >= threshold and s["best"] == s["expect"]]
    rejected = [s for s in off if s["score"] < threshold]
    return {
        "threshold": round(threshold, 4),
        "n_labelled": len(on),
        "n_off_topic": len(off),
        "n_uncovered": len(uncovered),
        "top1": len(correct) / len(on) if on else 0.0,
        "top1_without_threshold": sum(s["best"] == s["expect"] for s in on) / len(on) if on else 0.0,
        # the labelled question among the three best (the answer and its related list), any score
        "top3": sum(s["expect"] in s.get("top3", [s["best"]]) for s in on) / len(on) if on else 0.0,
        "rejection": len(rejected) / len(off) if off else 1.0,
        "uncovered_rejection": sum(s["score"] < threshold for s in uncovered) / len(uncovered) if uncovered else None,
        "misses": [
            {"query": s["query"], "expect": s["expect"],
             "got": s["best"] if s["score"] >= threshold else "none", "score": round(s["score"], 4)}
            for s in scored
            if (s["expect"] == "none") != (s["score"] < threshold)
            or (s["expect"] != "none" and s["best"] != s["expect"])
        ],
    }


def balanced(m: dict[str, Any]) -> float:
    """Mean of top-1 (with the threshold) and the rejection of `none`: each side counts the same,
    however many queries it has. The `none` side is the mean of the off-topic and the uncovered
    rejection rates (off-topic alone where there are no uncovered items)."""
    rates = [m["rejection"]] + ([m["uncovered_rejection"]] if m.get("uncovered_rejection") is not None else [])
    return (m["top1"] + sum(rates) / len(rates)) / 2


def tune_threshold(scored: list[dict[str, Any]]) -> float:
    """The threshold with the best balanced accuracy on the given items; ties go to the middle of the gap.

    Only scores of tune items are candidates, so nothing about the report split leaks in.
    """
    candidates = sorted({round(s["score"], 6) for s in scored})
    best_right, best_range = -1, (0.0, 0.0)
    # A threshold just above each score, or at the lowest score (accept everything).
    cuts = [candidates[0]] + [c + 1e-6 for c in candidates]
    for cut in cuts:
        right = balanced(marks(scored, cut))
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
             items: list[dict[str, str]] | None = None, absent_weight: float | None = None) -> dict[str, Any]:
    """Score both splits on the study root's questions. `tune=True` chooses the threshold on the
    tune split first. `items` defaults to every item of routing_eval.yaml."""
    from n00bqa.ask import routing

    fields = tuple(fields or routing.FIELDS)
    lexical_weight = routing.LEXICAL_WEIGHT if lexical_weight is None else lexical_weight
    absent_weight = routing.ABSENT_WEIGHT if absent_weight is None else absent_weight
    items = load_items() if items is None else items
    scored = score_items(study, items, fields, lexical_weight, absent_weight)
    tune_scored = [s for s in scored if s["split"] == "tune"]
    report_scored = [s for s in scored if s["split"] == "report"]
    if tune:
        threshold = tune_threshold(tune_scored)
    elif threshold is None:
        threshold = routing.THRESHOLD
    return {
        "fields": list(fields),
        "lexical_weight": lexical_weight,
        "absent_weight": absent_weight,
        "threshold": threshold,
        "tuned": tune,
        "tune": marks(tune_scored, threshold),
        "report": marks(report_scored, threshold),
    }


def select(study, items: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The selection rule of the module docstring, on the tune items only.

    Every distinct field text is embedded once; each config's scores are computed from those vectors
    as `QuestionVectors.scores` computes them (the winner is re-scored through the real `rank`).
    """
    import itertools

    import numpy as np

    from n00bqa.ask.routing import QuestionVectors, combine, field_texts, lexical_scores, question_words
    from n00bqa.questions import load_questions
    from n00bqa.retrieval import encoder

    items = [i for i in (load_items() if items is None else items) if i["split"] == "tune"]
    questions, _ = load_questions(study)
    configs = [(kinds, w, a) for r in range(1, len(GRID_KINDS) + 1)
               for kinds in itertools.combinations(GRID_KINDS, r) for w in GRID_WEIGHTS for a in GRID_ABSENT]
    per_config_rows = {kinds: [(i, kind, text) for i, q in enumerate(questions) for kind, text in field_texts(q, kinds)]
                       for kinds in {k for k, _, _ in configs}}
    texts = sorted({text for rows in per_config_rows.values() for _, _, text in rows})
    text_vectors = dict(zip(texts, encoder.encode(study, texts)))
    query_vectors = np.asarray(encoder.encode(study, [i["query"] for i in items]))  # (n_items, dim)
    documents = [question_words(q) for q in questions]
    lexical = {a: np.array([lexical_scores(i["query"], documents, a) for i in items])  # (n_items, n_questions)
               for a in GRID_ABSENT}
    semantic: dict[tuple[str, ...], Any] = {}
    for kinds, rows in per_config_rows.items():
        vectors = QuestionVectors(questions, np.array([text_vectors[t] for _, _, t in rows]),
                                  [(i, k) for i, k, _ in rows], lexical_weight=0.0)
        semantic[kinds] = np.array([vectors.semantic_scores(v) for v in query_vectors])
    results = []
    clip = np.vectorize(combine)
    for kinds, weight, absent in configs:
        scores = clip(semantic[kinds], lexical[absent], weight)  # as QuestionVectors.scores combines them
        best = scores.argmax(1)
        scored = [{**item, "best": questions[b].id, "score": float(s[b])} for item, s, b in zip(items, scores, best)]
        threshold = tune_threshold(scored)
        m = marks(scored, threshold)
        correct = [s["score"] for s in scored if s["expect"] == s["best"]]
        off = [s["score"] for s in scored if s["expect"] == "none"]
        gap = (min(correct) - max(off)) / float(np.std(correct)) if correct and off else 0.0
        results.append({"fields": list(kinds), "lexical_weight": weight, "absent_weight": absent,
                        "threshold": threshold, "balanced": balanced(m), "top1": m["top1"],
                        "rejection": m["rejection"], "uncovered_rejection": m["uncovered_rejection"], "gap": gap})
    top = max(r["balanced"] for r in results)
    candidates = [r for r in results if r["balanced"] >= top - SELECT_TOLERANCE - 1e-12]
    order = lambda r: (len(r["fields"]), r["absent_weight"], -r["gap"])  # noqa: E731
    chosen = min(candidates, key=order)
    return {"n_configs": len(results), "best_balanced": top, "chosen": chosen,
            "candidates": sorted(candidates, key=order)}


def _print(result: dict[str, Any], quiet: bool = False) -> None:
    print(f"fields={','.join(result['fields'])} lexical_weight={result['lexical_weight']} "
          f"absent_weight={result['absent_weight']} threshold={result['threshold']}"
          f"{' (tuned on the tune split)' if result['tuned'] else ' (shipped routing.THRESHOLD)'}")
    for split in ("tune", "report"):
        m = result[split]
        print(f"  {split:6s}: top-1 {m['top1']:.1%} of {m['n_labelled']} "
              f"(without threshold {m['top1_without_threshold']:.1%}), top-3 {m['top3']:.1%}, "
              f"off-topic rejected {m['rejection']:.1%} of {m['n_off_topic']}"
              + (f", uncovered rejected {m['uncovered_rejection']:.1%} of {m['n_uncovered']}" if m["n_uncovered"] else ""))
        for miss in [] if quiet else m["misses"]:
            print(f"           miss: {miss['query']!r} expected {miss['expect']}, got {miss['got']} ({miss['score']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="choose the threshold on the tune split")
    parser.add_argument("--variants", action="store_true", help="compare field sets, each tuned on the tune split")
    parser.add_argument("--select", action="store_true",
                        help="run the selection rule on the tune split, then score its winner on both splits")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quiet", action="store_true", help="do not list the misses")
    parser.add_argument("--root", help="the study root whose questions are routed (default: as n00bqa finds it)")
    args = parser.parse_args(argv)
    from n00bqa.study import Study

    study = Study.find(args.root)
    if args.select:
        selection = select(study)
        chosen = selection["chosen"]
        final = evaluate(study, chosen["fields"], chosen["lexical_weight"], tune=True,
                         absent_weight=chosen["absent_weight"])  # through the real rank
        if abs(final["threshold"] - chosen["threshold"]) > 1e-3:
            raise SystemExit(f"selection threshold {chosen['threshold']} != rank's {final['threshold']}")
        if args.json:
            print(json.dumps({"selection": selection, "chosen": final}, indent=2))
            return 0
        print(f"{selection['n_configs']} configs, best tune balanced accuracy {selection['best_balanced']:.3f}; "
              f"candidates within {SELECT_TOLERANCE}:")
        for c in selection["candidates"]:
            print(f"  {','.join(c['fields']):45s} w={c['lexical_weight']:.2f} absent={c['absent_weight']:g} "
                  f"thr={c['threshold']:.4f} tune top-1 {c['top1']:.1%} off-topic rejected {c['rejection']:.1%} "
                  f"uncovered rejected {c['uncovered_rejection']:.1%} gap/std {c['gap']:.3f}")
        _print(final, quiet=args.quiet)
        return 0
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
