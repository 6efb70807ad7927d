"""Retrieval quality on benchmarks/retrieval_eval.yaml: recall@5 and MRR for dense, lexical, hybrid.

    python benchmarks/retrieval_eval.py            # builds/updates the index first (incremental)
    python benchmarks/retrieval_eval.py --tune     # also grid-search the fusion settings on the tune split
    python benchmarks/retrieval_eval.py --json

recall@5: per query, the share of its labels matched by at least one of the top 5 passages, averaged.
hit@5:    share of queries with at least one relevant passage in the top 5.
MRR@10:   mean of 1/rank of the first relevant passage in the top 10 (0 if none).

The fusion settings in n00bqa/retrieval/search.py (RRF_K, DENSE_WEIGHT, LEXICAL_WEIGHT) may be
chosen with --tune, which looks at the `tune` queries only; the `test` queries are never used to
choose anything, so their numbers are the honest ones. Both splits and the total are printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEPTH_K = 10


def _matches(passage, label: str) -> bool:
    source, _, section = label.partition("#")
    return passage.source == source and section.lower() in passage.section.lower()


def score_query(passages, labels: list[str]) -> dict:
    """recall@5, hit@5 and reciprocal rank (within the passages given, at most 10) for one query."""
    top5 = passages[:5]
    found = [any(_matches(p, label) for p in top5) for label in labels]
    rank = next((i for i, p in enumerate(passages[:DEPTH_K], 1) if any(_matches(p, lb) for lb in labels)), None)
    return {"recall@5": sum(found) / len(labels), "hit@5": float(any(found)), "rr": 1.0 / rank if rank else 0.0}


def summarise(rows: list[dict]) -> dict:
    n = len(rows) or 1
    return {"queries": len(rows), "recall@5": round(sum(r["recall@5"] for r in rows) / n, 4),
            "hit@5": round(sum(r["hit@5"] for r in rows) / n, 4), "MRR@10": round(sum(r["rr"] for r in rows) / n, 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=Path, default=HERE / "retrieval_eval.yaml")
    parser.add_argument("--tune", action="store_true", help="grid-search RRF_K and the weights on the tune split")
    parser.add_argument("--no-build", action="store_true", help="use the index as it is")
    parser.add_argument("--rrf-k", type=float, help="override RRF_K (default: the one in search.py)")
    parser.add_argument("--dense-weight", type=float, help="override DENSE_WEIGHT")
    parser.add_argument("--max-per-source", type=int, help="override MAX_PER_SOURCE (0: no cap)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from n00bqa.retrieval import build_index, load_index
    import importlib

    search_module = importlib.import_module("n00bqa.retrieval.search")  # the module, not the function
    from n00bqa.retrieval.search import _distinct, dense_ranking, fuse, lexical_ranking

    if not args.no_build:
        report = build_index()
        print(f"index: {report.chunks_total} passages ({'updated' if report.changed else 'up to date'}, "
              f"{report.seconds:.1f} s)", file=sys.stderr)
    index = load_index()
    queries = yaml.safe_load(args.queries.read_text())["queries"]
    depth = max(50, 10 * DEPTH_K)
    started = time.perf_counter()
    # each query's two rankings, computed once; fusion is then cheap to redo with other settings
    rankings = [(dense_ranking(index, q["query"], depth), lexical_ranking(index, q["query"], depth)) for q in queries]
    per_query_seconds = (time.perf_counter() - started) / len(queries)

    def run(mode: str, rrf_k: float, dense_weight: float, lexical_weight: float) -> list[dict]:
        rows = []
        for q, (dense, lexical) in zip(queries, rankings):
            ranked = {"dense": dense, "lexical": lexical}.get(mode) or fuse(
                [(dense, dense_weight), (lexical, lexical_weight)], rrf_k)
            passages = _distinct(index, ranked, DEPTH_K, args.max_per_source)
            rows.append({**score_query(passages, q["relevant"]), "split": q.get("split", "test"), "query": q["query"],
                         "top": [f"{p.source}#{p.section}" for p in passages[:3]]})
        return rows

    settings = (search_module.RRF_K if args.rrf_k is None else args.rrf_k,
                search_module.DENSE_WEIGHT if args.dense_weight is None else args.dense_weight,
                search_module.LEXICAL_WEIGHT)
    result: dict = {"settings": {"rrf_k": settings[0], "dense_weight": settings[1], "lexical_weight": settings[2]},
                    "passages": len(index.chunks), "queries": len(queries),
                    "seconds_per_query_both_rankings": round(per_query_seconds, 4), "modes": {}}
    per_mode_rows = {}
    for mode in ("dense", "lexical", "hybrid"):
        rows = run(mode, *settings)
        per_mode_rows[mode] = rows
        result["modes"][mode] = {split: summarise([r for r in rows if split == "all" or r["split"] == split])
                                 for split in ("tune", "test", "all")}
    if args.tune:
        grid = []
        for rrf_k in (1, 5, 10, 20, 40, 60, 100):
            for dense_weight in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
                tune_rows = [r for r in run("hybrid", rrf_k, dense_weight, 1.0) if r["split"] == "tune"]
                s = summarise(tune_rows)
                grid.append({"rrf_k": rrf_k, "dense_weight": dense_weight, **s})
        best = max(grid, key=lambda g: (g["MRR@10"] + g["recall@5"], -abs(g["rrf_k"] - 60), -abs(g["dense_weight"] - 1)))
        result["tuning"] = {"best_on_tune_split": best, "grid_size": len(grid)}

    if args.json:
        result["per_query"] = per_mode_rows
        print(json.dumps(result, indent=1))
        return 0
    print(f"{len(queries)} queries over {len(index.chunks)} passages; fusion RRF_K={settings[0]} "
          f"dense_weight={settings[1]} lexical_weight={settings[2]}")
    print(f"{'mode':8} {'split':6} {'n':>3} {'recall@5':>9} {'hit@5':>7} {'MRR@10':>7}")
    for mode, splits in result["modes"].items():
        for split, s in splits.items():
            print(f"{mode:8} {split:6} {s['queries']:3d} {s['recall@5']:9.3f} {s['hit@5']:7.3f} {s['MRR@10']:7.3f}")
    hybrid = result["modes"]["hybrid"]
    for split in ("test", "all"):
        beats = all(hybrid[split][m] > result["modes"][other][split][m]
                    for other in ("dense", "lexical") for m in ("recall@5", "MRR@10"))
        print(f"hybrid beats dense and lexical on recall@5 and MRR@10 ({split}): {'yes' if beats else 'NO'}")
    if args.tune:
        b = result["tuning"]["best_on_tune_split"]
        print(f"best on the tune split ({result['tuning']['grid_size']} settings): rrf_k={b['rrf_k']} "
              f"dense_weight={b['dense_weight']} -> recall@5 {b['recall@5']:.3f} MRR@10 {b['MRR@10']:.3f}")
    misses = [r for r in per_mode_rows["hybrid"] if r["hit@5"] == 0]
    for r in misses:
        print(f"  hybrid miss: {r['query']!r} -> {r['top']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
