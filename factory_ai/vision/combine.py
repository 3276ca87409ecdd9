"""One verdict from several inspection models: the line that runs a detector and a classifier.

Why: on day one a detector trained on good parts watches for anything unusual; once labelled
defects exist, a classifier names the known types. A line runs both, and the reject gate must
get one answer. The rule is the cautious one: a part is rejected if any model rejects it, sent
to review if any asks for it (and none rejects), and passed only when every model passes it. A
classifier without good classes, whose verdict is a class name, counts as a reject.

The combined result takes the label, confidence and heatmap of the model that decided (the
first, in the configured order, to reject; else to ask for review; else the first model),
the anomaly score of the first detector, and keeps every model's own answer in ``answers``,
so the stored inspection says who said what.
"""

from __future__ import annotations

from dataclasses import replace

from factory_ai.vision.inspect import Result
from factory_ai.vision.judgement import PASS, REVIEW

ERROR = "error"


def severity(verdict: str) -> int:
    """Order of precedence: reject (or a class name) over review over pass; errors rank lowest,
    so a model that could not judge never hides another's reject."""
    if verdict == ERROR:
        return -1
    return {PASS: 0, REVIEW: 1}.get(verdict, 2)


def combine(answers: list[tuple[str, str, Result]]) -> tuple[Result, int]:
    """``answers`` as (model name, version, result) for the same image, in the line's order;
    returns the combined result and the index of the model that decided it."""
    if len(answers) == 1:
        return answers[0][2], 0
    judged = [i for i, (_, _, r) in enumerate(answers) if r.verdict != ERROR]
    if not judged:
        return replace(answers[0][2], answers=_answers(answers)), 0
    decider = max(judged, key=lambda i: (severity(answers[i][2].verdict), -i))
    score = next((answers[i][2].score for i in judged if answers[i][2].score is not None), None)
    return replace(answers[decider][2], score=score, answers=_answers(answers)), decider


def _answers(answers: list[tuple[str, str, Result]]) -> dict[str, dict[str, object]]:
    return {name: {"version": version, "label": r.label,
                   "confidence": None if r.confidence is None else round(r.confidence, 6),
                   "verdict": r.verdict, "score": None if r.score is None else round(r.score, 6),
                   **({"error": r.error} if r.error else {})} for name, version, r in answers}
