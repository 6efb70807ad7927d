"""Benchmark metrics, as a leaderboard computes them. No torch: plain Python on lists.

MAP@3 is the Kaggle LLM Science Exam metric: each question has exactly one correct answer,
a submission lists up to three guesses in order, and the question scores 1/rank of the first
correct guess (1, 1/2 or 1/3), or 0 when the answer is not among the first three. Guesses
after the first correct one do not count, so repeating the right letter earns nothing extra.
The score is the mean over questions.
"""

from __future__ import annotations

from typing import Sequence

from n00bqa.errors import ProbeError

TOP_K = 3


def average_precision_at_3(predictions: Sequence[str], answer: str) -> float:
    """One question's score: 1/rank of the first correct guess among the first 3, else 0.

    Args:
        predictions: the guesses in order, best first (e.g. ["B", "A", "D"]); only the first 3 count.
        answer: the one correct label.
    """
    for rank, guess in enumerate(predictions[:TOP_K], start=1):
        if guess == answer:
            # With one relevant item, precision at its rank is 1/rank, and the item is then
            # "used up": anything after it is skipped.
            return 1.0 / rank
    return 0.0


def map_at_3(predictions: Sequence[Sequence[str]], answers: Sequence[str]) -> float:
    """Mean over questions of `average_precision_at_3`.

    Args:
        predictions: one ordered guess list per question.
        answers: one correct label per question, in the same order.
    """
    if len(predictions) != len(answers):
        raise ProbeError(f"map_at_3 got {len(predictions)} prediction lists but {len(answers)} answers; "
                         "pass one guess list per answer")
    if not answers:
        raise ProbeError("map_at_3 got no questions; pass at least one (predictions, answer) pair")
    return sum(average_precision_at_3(p, a) for p, a in zip(predictions, answers)) / len(answers)


def top_k_labels(scores: Sequence[float], labels: Sequence[str], k: int = TOP_K) -> list[str]:
    """Turn one question's scores (one per choice) into its ordered top-k guesses.

    Higher score ranks first; equal scores keep the choices' own order (A before B), so the
    result is deterministic. (torch.topk makes no promise about the order of ties.)

    Args:
        scores: one number per choice, e.g. a multiple-choice model's logits for one question.
        labels: the choice names in the same order, e.g. "ABCDE".
        k: how many guesses to keep.
    """
    if len(scores) != len(labels):
        raise ProbeError(f"top_k_labels got {len(scores)} scores for {len(labels)} labels; "
                         "pass one score per choice")
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [labels[i] for i in order[:k]]
