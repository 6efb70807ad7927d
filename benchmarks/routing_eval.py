"""Routing evaluation for `n00bqa ask`: match / candidates / none on the tune, report and fresh splits.

    python benchmarks/routing_eval.py             # the shipped routing settings, every split
    python benchmarks/routing_eval.py --legacy    # the routing match of issue 16 (one threshold)
    python benchmarks/routing_eval.py --fit       # fit WEIGHTS / NONE_WEIGHTS and choose SURE /
                                                  # NONE_LEVEL on the seen splits, then score all three
    python benchmarks/routing_eval.py --json
    python benchmarks/routing_eval.py --write-examples  # routing/examples.jsonl from the seen splits

Every figure is printed against its target (issue 22), per split:
  top-1        labelled queries whose best-ranked question is the labelled one (what a match shows,
               or the first candidate, which Enter takes)                          target >= 95 %
  top-3        the labelled question among the three best-ranked                    target >= 99 %
  off-topic    off-topic queries shown as none                                      target 100 %
  uncovered    in-field queries no question covers shown as none or candidates,
               never as a sure match                                                target >= 95 %
  precision    of every query shown as a match, the share matched to its label       target >= 98 %
  candidates   labelled queries shown as candidates                                 target <= 15 %
and the calibration of the confidence: per level of the best question's confidence, the share of
queries (labelled and none) whose best question was right.

Six splits, in two groups:
  seen          tune and report (routing_eval.yaml, written by the project), then fresh, fresh2 and
                fresh3 (routing_fresh*.yaml). Each fresh set was written in one sitting by someone who
                never saw the router, its labelled sets or its tests, and was scored once while held
                out (its round's figures are in n00bqa/ask/routing.py); then it joined the seen sets.
                The report split was scored on several rounds while the router changed, so it is no
                longer a held-out test either. `--fit` fits on all five, and their in-list queries are
                the shipped example phrasings (`--write-examples`).
  held out      fresh4 (routing_fresh4.yaml): never fitted on and never an example (the run refuses an
                examples file holding one of its queries); scored once in round 4, the figures that
                stand for a learner's own phrasings.
The vote features need the retrieval index: build it first (`n00bqa index build`); without it the run
stops, as a router without votes is not the shipped one.
An item may list `also: [id]`: a second question that answers it just as well (a toss-up the
writer marked while writing). Top-1, top-3 and precision count either as right.

The rule behind routing.WEIGHTS / NONE_WEIGHTS / SURE / NONE_LEVEL (`--fit`):
  1. WEIGHTS and NONE_WEIGHTS: the conditional logit (softmax over the questions and "none") of
     maximum likelihood on the seen items, labelled and none, with an L2 penalty of L2 per weight;
  2. SURE on GRID_SURE and NONE_LEVEL on GRID_NONE_LEVEL, on the seen items routed by a logit
     fitted without them (FOLDS folds by the hash of the query; each fold's confidences come from
     the logit fitted on the other folds): among the pairs that meet the most of the targets that
     guard against a wrong answer (off-topic 100 %, uncovered >= 95 %, precision >= LEVEL_PRECISION,
     in that order of priority), the one with the most labelled queries matched right; ties go to
     the fewest candidates, then the lowest SURE;
  3. only then is the held-out split scored, once.

A seen query is scored with its own example phrasing left out (QuestionVectors.features(leave_out=...)),
so seen figures are not read off the query itself.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
EVAL_FILE = HERE / "routing_eval.yaml"
FRESH_FILES = {"fresh": HERE / "routing_fresh.yaml", "fresh2": HERE / "routing_fresh2.yaml",
               "fresh3": HERE / "routing_fresh3.yaml", "fresh4": HERE / "routing_fresh4.yaml"}
SEEN = ("tune", "report", "fresh", "fresh2", "fresh3")  # fitted on, and the source of the shipped example phrasings
HELD_OUT = "fresh4"  # never fitted on, never an example: the figures that stand for a learner's phrasings
SPLITS = (*SEEN, HELD_OUT)
FOLDS = 5  # the levels are chosen on out-of-fold confidences (round 4 on; rounds 1-3 chose them in-sample)
# The precision of a sure match the levels must reach on the seen items, a point above the target:
# in rounds 1-3 the held-out set's precision came out from 1.9 points above to 1.2 below the seen
# sets' (98.1-98.3 -> 98.1; 98.1-99.0 -> 100; 97.4-98.6 -> 96.2). Set in round 4, before fresh4.
LEVEL_PRECISION = 0.99
L2 = 0.0005
GRID_SURE = tuple(round(0.3 + 0.02 * i, 2) for i in range(35))  # 0.30 .. 0.98
GRID_NONE_LEVEL = tuple(round(0.05 * i, 2) for i in range(1, 15))  # 0.05 .. 0.70
TARGETS = {"top1": (">=", 0.95), "top3": (">=", 0.99), "off_topic_none": (">=", 1.0),
           "uncovered_not_sure": (">=", 0.95), "precision": (">=", 0.98), "candidates": ("<=", 0.15)}
LABELS = {"top1": "top-1", "top3": "top-3", "off_topic_none": "off-topic shown as none",
          "uncovered_not_sure": "uncovered: none or candidates", "precision": "precision of a sure match",
          "candidates": "labelled shown as candidates"}
CALIBRATION_BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)


def load_items(path: Path = EVAL_FILE, fresh: dict[str, Path] | None = None) -> list[dict[str, Any]]:
    """The labelled items: `path`'s (split tune or report), then each of `fresh`'s files (default
    FRESH_FILES) as the split it is named by."""
    items = yaml.safe_load(path.read_text())["items"]
    for item in items:
        if item["split"] not in ("tune", "report"):
            raise ValueError(f"item {item['query']!r}: split must be tune or report")
    for split, file in (FRESH_FILES if fresh is None else fresh).items():
        if file.is_file():
            # a query that an earlier split also holds counts once, in the earlier split
            said = {_said(item["query"]) for item in items}
            items += [{**item, "split": split} for item in yaml.safe_load(file.read_text())["items"]
                      if _said(item["query"]) not in said]
    return items


def _said(query: str) -> str:
    return " ".join(query.split()).lower()


def right(item: dict[str, Any], qid: str) -> bool:
    """The question `qid` answers the item: its label, or a question its writer marked as `also`."""
    return qid == item["expect"] or qid in item.get("also", ())


def kind(item: dict[str, Any]) -> str:
    if item["expect"] != "none":
        return "labelled"
    return "uncovered" if item.get("uncovered") else "off_topic"


def compute_features(study, items: list[dict[str, Any]]) -> tuple[list, Any, Any]:
    """(questions, features (n_items, n_questions, n_features), nearness (n_items,)), as routing.rank
    computes them."""
    import numpy as np

    from n00bqa.ask.routing import load_examples, passage_votes, question_vectors
    from n00bqa.questions import load_questions
    from n00bqa.retrieval import encoder
    from n00bqa.retrieval.index import load_index

    questions, _ = load_questions(study)
    examples = load_examples(study, {q.id for q in questions})
    said = {_said(x) for texts in examples.values() for x in texts}
    leaked = [i["query"] for i in items if i["split"] == HELD_OUT and _said(i["query"]) in said]
    if leaked:
        raise SystemExit(f"routing/examples.jsonl holds {len(leaked)} {HELD_OUT} queries ({leaked[0]!r}): "
                         "write it with --write-examples")
    vectors = question_vectors(study, questions, cache=False, examples=examples)
    index = load_index(study)
    query_vectors = encoder.encode(study, [item["query"] for item in items])  # (n_items, dim)
    features, nearness = [], []
    for item, v in zip(items, query_vectors):
        votes, near = passage_votes(index, v, questions, item["query"])
        leave_out = item["query"] if item["split"] in SEEN else ""
        features.append(vectors.features(v, item["query"], votes, leave_out=leave_out))
        nearness.append(near)
    return questions, np.stack(features), np.array(nearness)


def outcomes(questions, features, nearness, weights, none_weights, sure, none_level) -> list[dict[str, Any]]:
    from n00bqa.ask.routing import confidences

    return outcomes_of(questions, [confidences(f, near, weights, none_weights) for f, near in zip(features, nearness)],
                       sure, none_level)


def outcomes_of(questions, shares: list, sure: float, none_level: float) -> list[dict[str, Any]]:
    """The outcome of each item from its (per-question confidences, none's confidence)."""
    from n00bqa.ask.routing import decide

    out = []
    for shares, none_share in shares:
        outcome, shown = decide(questions, shares, none_share, sure, none_level)
        order = shares.argsort()[::-1]
        out.append({"outcome": outcome, "shown": [questions[i].id for i in shown],
                    "ranked": [questions[i].id for i in order[:3]], "confidence": float(shares[order[0]])})
    return out


def marks(items: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    pairs = list(zip(items, results))
    lab = [(i, r) for i, r in pairs if kind(i) == "labelled"]
    off = [(i, r) for i, r in pairs if kind(i) == "off_topic"]
    unc = [(i, r) for i, r in pairs if kind(i) == "uncovered"]
    sure = [(i, r) for i, r in pairs if r["outcome"] == "match"]
    share = lambda xs, ok: sum(ok(i, r) for i, r in xs) / len(xs) if xs else 1.0  # noqa: E731
    calibration = []
    for low, high in zip(CALIBRATION_BINS, CALIBRATION_BINS[1:]):
        inside = [(i, r) for i, r in pairs if low <= r["confidence"] < high]
        if inside:
            calibration.append({"from": low, "to": min(high, 1.0), "n": len(inside),
                                "mean_confidence": sum(r["confidence"] for _, r in inside) / len(inside),
                                "right": share(inside, lambda i, r: right(i, r["ranked"][0]))})
    return {
        "n_labelled": len(lab), "n_off_topic": len(off), "n_uncovered": len(unc), "n_sure": len(sure),
        "top1": share(lab, lambda i, r: right(i, r["ranked"][0])),
        "top3": share(lab, lambda i, r: any(right(i, q) for q in r["ranked"][:3])),
        "off_topic_none": share(off, lambda i, r: r["outcome"] == "none"),
        "uncovered_not_sure": share(unc, lambda i, r: r["outcome"] != "match"),
        "precision": share(sure, lambda i, r: right(i, r["shown"][0])),
        "candidates": share(lab, lambda i, r: r["outcome"] == "candidates"),
        "matched_right": share(lab, lambda i, r: r["outcome"] == "match" and right(i, r["shown"][0])),
        "calibration": calibration,
        "misses": [{"query": i["query"], "expect": i["expect"], "outcome": r["outcome"], "shown": r["shown"],
                    "ranked": r["ranked"], "confidence": round(r["confidence"], 3)}
                   for i, r in pairs
                   if (kind(i) == "labelled" and (not right(i, r["ranked"][0]) or r["outcome"] != "match"))
                   or (kind(i) != "labelled" and r["outcome"] == "match")
                   or (kind(i) == "off_topic" and r["outcome"] != "none")],
    }


def meets(m: dict[str, Any], names=("off_topic_none", "uncovered_not_sure", "precision")) -> bool:
    return all((m[n] >= t - 1e-12) if op == ">=" else (m[n] <= t + 1e-12) for n, (op, t) in TARGETS.items() if n in names)


def fit_logit(questions, features, nearness, items) -> tuple[tuple[float, ...], tuple[float, float]]:
    """Step 1: the conditional logit of maximum likelihood (L2 on the weights) on the given items."""
    import numpy as np
    from scipy.optimize import minimize

    ids = [q.id for q in questions]
    labels = np.array([ids.index(i["expect"]) if i["expect"] != "none" else len(ids) for i in items])
    X = np.asarray(features)  # (n_items, n_questions, n_features)

    near = np.asarray(nearness)  # (n_items,)

    def loss(theta):
        w, b, c = theta[:-2], theta[-2], theta[-1]
        none = (b + c * near)[:, None]  # (n_items, 1)
        scores = np.concatenate([X @ w, none], axis=1)  # (n_items, n_questions + 1)
        scores -= scores.max(1, keepdims=True)
        logp = scores - np.log(np.exp(scores).sum(1, keepdims=True))
        p = np.exp(logp)
        value = -logp[np.arange(len(X)), labels].mean() + L2 * (w @ w)
        onehot = np.zeros_like(p)
        onehot[np.arange(len(X)), labels] = 1.0
        diff = (p - onehot) / len(X)  # (n_items, n_questions + 1)
        grad_w = np.einsum("nq,nqf->f", diff[:, :-1], X) + 2 * L2 * w
        return value, np.concatenate([grad_w, [diff[:, -1].sum(), diff[:, -1] @ near]])

    result = minimize(loss, np.zeros(X.shape[2] + 2), jac=True, method="L-BFGS-B")
    rounded = [round(float(x), 3) for x in result.x]
    return tuple(rounded[:-2]), (rounded[-2], rounded[-1])


def fold_of(item: dict[str, Any]) -> int:
    import hashlib

    return int(hashlib.sha256(_said(item["query"]).encode()).hexdigest(), 16) % FOLDS


def out_of_fold_shares(questions, features, nearness, items) -> list:
    """Per item, the (confidences, none's confidence) of the logit fitted on the other FOLDS - 1 folds:
    what the router would say of a query it was not fitted on."""
    from n00bqa.ask.routing import confidences

    folds = [fold_of(item) for item in items]
    out: list = [None] * len(items)
    for k in range(FOLDS):
        train = [n for n, f in enumerate(folds) if f != k]
        weights, none_weights = fit_logit(questions, features[train], nearness[train], [items[n] for n in train])
        for n, f in enumerate(folds):
            if f == k:
                out[n] = confidences(features[n], nearness[n], weights, none_weights)
    return out


def choose_levels(questions, features, nearness, items, weights, none_weights, shares=None) -> tuple[float, float]:
    """Step 2: SURE and NONE_LEVEL on the given items, from `shares` (out_of_fold_shares) when given,
    else from the confidences of `weights` and `none_weights`."""
    from n00bqa.ask.routing import confidences

    if shares is None:
        shares = [confidences(f, near, weights, none_weights) for f, near in zip(features, nearness)]
    best, best_key = None, None
    for sure in GRID_SURE:
        for none_level in GRID_NONE_LEVEL:
            m = marks(items, outcomes_of(questions, shares, sure, none_level))
            met = (meets(m, ("off_topic_none",)), meets(m, ("uncovered_not_sure",)),
                   m["precision"] >= LEVEL_PRECISION - 1e-12)
            key = (sum(met), met, m["matched_right"], -m["candidates"], -sure)
            if best_key is None or key > best_key:
                best, best_key = (sure, none_level), key
    return best


def print_marks(name: str, m: dict[str, Any], quiet: bool) -> None:
    print(f"  {name} ({m['n_labelled']} labelled, {m['n_uncovered']} uncovered, {m['n_off_topic']} off-topic):")
    for key, (op, target) in TARGETS.items():
        ok = (m[key] >= target - 1e-12) if op == ">=" else (m[key] <= target + 1e-12)
        print(f"    {LABELS[key]:32s} {m[key]:6.1%}  target {op} {target:.0%}  {'met' if ok else 'NOT met'}")
    print("    confidence of the best question -> share of queries whose best question was right:")
    for c in m["calibration"]:
        print(f"      {c['from']:.1f}-{c['to']:.1f}: {c['n']:3d} queries, mean confidence {c['mean_confidence']:.2f}, "
              f"right {c['right']:.0%}")
    if not quiet:
        for miss in m["misses"]:
            print(f"      miss: {miss['query']!r} expected {miss['expect']}, {miss['outcome']} "
                  f"{','.join(miss['shown']) or '-'} (ranked {','.join(miss['ranked'])}, {miss['confidence']})")


def legacy(study, items) -> dict[str, Any]:
    """The routing match of issue 16 (question + paragraphs, lexical 0.6, THRESHOLD 0.3807): a match or
    none, no candidates; its 'confidence' is the routing match itself."""
    from n00bqa.ask import routing
    from n00bqa.questions import load_questions
    from n00bqa.retrieval import encoder

    questions, _ = load_questions(study)
    vectors = routing.question_vectors(study, questions, fields=("question", "paragraphs"), cache=False)
    query_vectors = encoder.encode(study, [item["query"] for item in items])
    results = []
    for item, v in zip(items, query_vectors):
        semantic = vectors.features(v)[:, 0]
        lexical = _legacy_lexical(item["query"], questions)
        scores = [routing.combine(s, w) for s, w in zip(semantic, lexical)]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        top = order[0]
        matched = scores[top] >= routing.THRESHOLD
        results.append({"outcome": "match" if matched else "none", "shown": [questions[top].id] if matched else [],
                        "ranked": [questions[i].id for i in order[:3]], "confidence": min(scores[top], 1.0)})
    return {split: marks([i for i in items if i["split"] == split],
                         [r for i, r in zip(items, results) if i["split"] == split]) for split in SPLITS}


def _legacy_lexical(query: str, questions) -> list[float]:
    """issue 16's word overlap: question, answer, tags and Try asks; words as content_words gives them."""
    import re

    from n00bqa.text import content_words, idf

    documents = [content_words(" ".join([q.question, q.answer, " ".join(q.tags),
                                         " ".join(re.findall(r'n00bqa ask "([^"]+)"', q.try_))])) for q in questions]
    terms = content_words(query)
    if not terms:
        return [0.0] * len(documents)
    weight = idf(terms, documents)
    total = sum(weight.values())
    return [sum(weight[t] for t in terms if t in d) / total for d in documents]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="fit the weights and choose the levels on the seen splits")
    parser.add_argument("--legacy", action="store_true", help="score issue 16's routing match instead")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--quiet", action="store_true", help="do not list the misses")
    parser.add_argument("--write-examples", action="store_true",
                        help="write routing/examples.jsonl from the seen splits' in-list queries, then stop")
    parser.add_argument("--root", help="the study root whose questions are routed (default: as n00bqa finds it)")
    args = parser.parse_args(argv)
    from n00bqa.ask import routing
    from n00bqa.study import Study

    study = Study.find(args.root)
    items = load_items()
    if not args.write_examples and not study.state_path("index", "manifest.json").is_file():
        raise SystemExit("build the index first (the passages' votes are features): n00bqa index build")
    if args.write_examples:
        from n00bqa.ask.choices import FOLDER

        lines = [json.dumps({"query": i["query"], "id": i["expect"]}) for i in items
                 if i["split"] in SEEN and i["expect"] != "none"]
        path = study.root / FOLDER / routing.EXAMPLES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"wrote {len(lines)} example phrasings ({', '.join(SEEN)} splits; never {HELD_OUT}) to {path}")
        return 0
    if args.legacy:
        result = {"settings": "legacy", **legacy(study, items)}
    else:
        questions, features, nearness = compute_features(study, items)
        tune = [n for n, i in enumerate(items) if i["split"] in SEEN]
        weights, none_weights, sure, none_level = routing.default_weights(bool(routing.load_examples(study)))
        if args.fit:
            tune_items = [items[n] for n in tune]
            weights, none_weights = fit_logit(questions, features[tune], nearness[tune], tune_items)
            shares = out_of_fold_shares(questions, features[tune], nearness[tune], tune_items)
            sure, none_level = choose_levels(questions, features[tune], nearness[tune], tune_items, weights,
                                             none_weights, shares)
        results = outcomes(questions, features, nearness, weights, none_weights, sure, none_level)
        result = {"settings": {"weights": list(weights), "none_weights": list(none_weights), "sure": sure,
                               "none_level": none_level,
                               "features": list(routing.FEATURES), "fitted_now": args.fit}}
        for split in SPLITS:
            result[split] = marks([i for i in items if i["split"] == split],
                                  [r for i, r in zip(items, results) if i["split"] == split])
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"settings: {result['settings']}")
    print(f"(settings chosen on the seen splits, {', '.join(SEEN)}; the {HELD_OUT} split is not used to choose anything)")
    for split in SPLITS if HELD_OUT in result else SEEN:
        print_marks(split, result[split], args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
