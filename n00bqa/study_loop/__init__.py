"""The study loop: predict, measure, review. No terminal I/O: `n00bqa quiz/review/progress` and the
browser's quiz screen show what these return.

- `scoring`: reading a guess, its error (relative, or orders of magnitude), its score, the rating;
- `log`: the review history, `<root>/reviews/<id>.jsonl`, versioned with the questions;
- `schedule`: one FSRS card per question (the `fsrs` package), rebuilt from its log;
- `quiz`: one quiz — the plan (predictions of the question's probes), the measurement, the reveal,
  the logged review;
- `progress`: what is due, and per chapter how the learner is doing;
- `evidence`: where a new question starts from (related questions, probes, cited passages).
"""

from n00bqa.study_loop.log import Review, read_all, read_log
from n00bqa.study_loop.progress import Overview, Progress, overview, progress
from n00bqa.study_loop.quiz_steps import Plan, QuizResult, plan, record_predictions, record_recall, reveal_all, run_quiz
from n00bqa.study_loop.scoring import RATINGS, parse_number, rating_for_score, score

__all__ = ["Review", "read_all", "read_log", "Overview", "Progress", "overview", "progress", "Plan",
           "QuizResult", "plan", "record_predictions", "record_recall", "reveal_all", "run_quiz", "RATINGS",
           "parse_number", "rating_for_score", "score"]
