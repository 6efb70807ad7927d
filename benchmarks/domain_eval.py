"""In-domain vs off-topic for `ask` queries that match no question: accuracy per split and label.

    python benchmarks/domain_eval.py            # the shipped n00bqa.ask.domain.THRESHOLD, both splits
    python benchmarks/domain_eval.py --tune     # choose a threshold on the tune split only
    python benchmarks/domain_eval.py --perturb  # how much rewording moves a score (sets BAND)
    python benchmarks/domain_eval.py --json

A score within n00bqa.ask.domain.BAND below the threshold counts as in the field ("near the
line", passages shown): below, "kept" and "rejected" apply the band; "near the line" counts the
queries whose verdict the band decided.

The labelled queries: benchmarks/domain_eval.yaml (in-domain queries the question list does not
cover, and off-topic ones), the labelled queries of routing_eval.yaml (in-domain, as are its `none`
ones marked `uncovered`; its other `none` ones off-topic) and of retrieval_eval.yaml (in-domain), each in its file's split (retrieval's `test` is
reported as `report`); a query in two files counts once. Scores use the study root's index
(`--root`, else N00BQA_ROOT, the current folder or the project's own).

The rule fixed beforehand: on tune only, the threshold with the best balanced accuracy (mean of the
in-domain and off-topic accuracies); among equals, the midpoint of the widest gap between sorted
tune scores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def load_items() -> list[dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}

    def add(query: str, label: str, split: str, source: str) -> None:
        items.setdefault(query.strip().lower(), {"query": query, "label": label, "split": split, "source": source})

    for item in yaml.safe_load((HERE / "domain_eval.yaml").read_text())["items"]:
        if item["label"] not in ("in-domain", "off-topic") or item["split"] not in ("tune", "report"):
            raise ValueError(f"domain_eval.yaml item {item['query']!r}: label in-domain|off-topic, split tune|report")
        add(item["query"], item["label"], item["split"], "domain_eval")
    for item in yaml.safe_load((HERE / "routing_eval.yaml").read_text())["items"]:
        off_topic = item["expect"] == "none" and not item.get("uncovered")  # uncovered: in the field, no question
        add(item["query"], "off-topic" if off_topic else "in-domain", item["split"], "routing_eval")
    for item in yaml.safe_load((HERE / "retrieval_eval.yaml").read_text())["queries"]:
        add(item["query"], "in-domain", "tune" if item["split"] == "tune" else "report", "retrieval_eval")
    return list(items.values())


def score_items(study, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from n00bqa.ask.domain import domain_score
    from n00bqa.retrieval import encoder
    from n00bqa.retrieval.index import load_index

    index = load_index(study)
    vectors = encoder.encode(study, [item["query"] for item in items])  # (n_items, dim)
    return [{**item, "score": domain_score(index.vectors, v)} for item, v in zip(items, vectors)]


def accuracy(scored: list[dict[str, Any]], threshold: float, band: float = 0.0) -> dict[str, Any]:
    ins = [s for s in scored if s["label"] == "in-domain"]
    offs = [s for s in scored if s["label"] == "off-topic"]
    threshold = threshold - band
    in_ok = sum(s["score"] >= threshold for s in ins)
    off_ok = sum(s["score"] < threshold for s in offs)
    return {"in_domain": f"{in_ok}/{len(ins)}", "off_topic": f"{off_ok}/{len(offs)}",
            "near_line": sum(abs(s["score"] - threshold - band) < band for s in scored),
            "balanced_accuracy": round((in_ok / max(1, len(ins)) + off_ok / max(1, len(offs))) / 2, 4),
            "missed": sorted((s["query"], round(s["score"], 3)) for s in ins if s["score"] < threshold),
            "let_through": sorted((s["query"], round(s["score"], 3)) for s in offs if s["score"] >= threshold)}


def tune(scored: list[dict[str, Any]]) -> float:
    tune_items = [s for s in scored if s["split"] == "tune"]
    values = sorted({round(s["score"], 6) for s in tune_items})
    candidates = [((a + b) / 2, b - a) for a, b in zip(values, values[1:])]
    best = max(candidates, key=lambda c: (accuracy(tune_items, c[0])["balanced_accuracy"], c[1]))
    return round(best[0], 3)


def perturb(study) -> int:
    """How far rewording a tune query (lower case, a "?", "what is" added or dropped) moves its score."""
    import numpy as np

    items = [i for i in load_items() if i["split"] == "tune"]
    base = np.array([s["score"] for s in score_items(study, items)])
    rewordings = (lambda q: q.lower(), lambda q: q + "?",
                  lambda q: q.split(" ", 2)[-1] if q.lower().startswith(("what ", "how ", "why ")) else "what is " + q)
    diffs = np.concatenate([np.array([s["score"] for s in score_items(study, [{**i, "query": f(i["query"])}
                                                                               for i in items])]) - base
                            for f in rewordings])
    print(f"{len(items)} tune queries x {len(rewordings)} rewordings: the score moves by std {diffs.std():.4f}, "
          f"median |change| {np.median(abs(diffs)):.4f}, 90th percentile {np.percentile(abs(diffs), 90):.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", help="the study root whose index scores the queries")
    parser.add_argument("--tune", action="store_true", help="choose the threshold on the tune split")
    parser.add_argument("--perturb", action="store_true", help="measure how rewording moves the scores (tune)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE.parent))
    from n00bqa.ask.domain import BAND, THRESHOLD
    from n00bqa.study import Study

    study = Study.find(args.root)
    if args.perturb:
        return perturb(study)
    scored = score_items(study, load_items())
    threshold = tune(scored) if args.tune else THRESHOLD
    report = {"threshold": threshold, "band": BAND, "tuned": args.tune, "n": len(scored),
              "splits": {split: accuracy([s for s in scored if s["split"] == split], threshold, BAND)
                         for split in ("tune", "report")}}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"threshold {threshold} ({'chosen on tune now' if args.tune else 'n00bqa.ask.domain.THRESHOLD'}), "
          f"{len(scored)} queries")
    for split, r in report["splits"].items():
        print(f"{split:>6}: in-domain kept {r['in_domain']}, off-topic rejected {r['off_topic']}, "
              f"balanced accuracy {r['balanced_accuracy']:.3f}, near the line (within {BAND}) {r['near_line']}")
        for query, score in r["missed"]:
            print(f"        missed (in-domain below): {score:.3f} {query}")
        for query, score in r["let_through"]:
            print(f"        let through (off-topic above): {score:.3f} {query}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
