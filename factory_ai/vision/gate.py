"""The gate before service: a classifier must clearly beat the trivial answer on its test split.

Why: a network that learned nothing still exports, still passes its parity check, and still
prints an accuracy. On a plant's skewed data that accuracy can even look fair while the model
rejects nine good parts in ten. So before a version goes into service (its first version, or
``--promote``), its own test figures are held against what always answering the commonest
class would score, and against the plant's limits for parts wrongly rejected and defects
passed. A version that fails stays registered (to be looked at) but out of service, and the
reason is given in one sentence with what to try.

"Clearly" is measured as a share of the way from the trivial answer to a perfect one
(``margin``, default a quarter), so the bar scales with the number of classes: with two
classes balanced accuracy must reach 0.625, with six 0.375.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MIN_SUPPORT = 20  # a class with fewer training images is flagged in the summary and the card


@dataclass(frozen=True)
class Limits:
    margin: float = 0.25
    max_false_reject: float = 0.10
    max_escape: float = 0.20


@dataclass
class Verdict:
    passed: bool
    checks: list[dict[str, Any]] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sentence(self) -> str:
        """What failed, by how much, and what to try, in plain words."""
        if self.passed:
            return "passes the gate: " + "; ".join(c["text"] for c in self.checks)
        failed = [c["text"] for c in self.checks if not c["passed"]]
        return ("kept out of service: " + "; ".join(failed) + "."
                + (" Try: " + "; ".join(self.advice) + "." if self.advice else ""))


def judge(evaluation: dict[str, Any], limits: Limits, *, learned: bool = True,
          train_support: dict[str, int] | None = None, geometry: str | None = None) -> Verdict:
    """Hold a test evaluation (``vision.metrics.evaluate``) against the trivial answer and the limits."""
    base = evaluation["baseline"]
    checks: list[dict[str, Any]] = []

    def against_baseline(key: str, label: str) -> None:
        value, trivial = float(evaluation[key]), float(base[key])
        needed = trivial + limits.margin * (1 - trivial)
        ok = value >= needed
        checks.append({"figure": key, "value": round(value, 4), "limit": round(needed, 4), "passed": ok,
                       "text": f"{label} {value:.3f} " + ("reaches" if ok else "is below") +
                       f" the {needed:.3f} needed (always answering the commonest class scores {trivial:.3f})"})

    against_baseline("balanced_accuracy", "balanced accuracy")
    against_baseline("macro_f1", "macro-F1")
    for key, limit, label, harm in (
        ("false_reject_rate", limits.max_false_reject, "false-reject rate", "good parts rejected"),
        ("escape_rate", limits.max_escape, "escape rate", "defects passed"),
    ):
        value = evaluation.get(key)
        if value is None:
            continue
        ok = value <= limit
        checks.append({"figure": key, "value": round(float(value), 4), "limit": limit, "passed": ok,
                       "text": f"{label} {value:.1%} ({harm}) " + ("within" if ok else "over") + f" the limit {limit:.0%}"})
    if not learned:
        checks.append({"figure": "learned", "value": False, "limit": True, "passed": False,
                       "text": "the training loss never fell clearly below the class-prior entropy (it did not learn)"})
    passed = all(c["passed"] for c in checks)
    return Verdict(passed, checks, [] if passed else _advice(evaluation, train_support or {}, geometry))


def _advice(evaluation: dict[str, Any], train_support: dict[str, int], geometry: str | None) -> list[str]:
    advice = []
    per_class = evaluation["per_class"]
    weak = sorted((c for c, m in per_class.items() if m["support"] and m["recall"] < 0.5),
                  key=lambda c: per_class[c]["recall"])
    if weak:
        named = ", ".join(f"{c} ({train_support.get(c, '?')} training images, recall {per_class[c]['recall']:.2f})"
                          for c in weak[:3])
        advice.append(f"more labelled images of {named}")
    if geometry:
        advice.append(f"a larger --image-size if the flaws are small (the canvas was {geometry})")
    advice.append("the good-only anomaly mode (factory-ai train anomaly) when defect images are few")
    return advice


def support_warnings(train_support: dict[str, int], minimum: int = MIN_SUPPORT) -> list[str]:
    """One line per class with too few training images to learn it reliably."""
    return [f"class {c!r} has only {n} training images (fewer than {minimum}): its figures are uncertain and "
            "it is learned from heavy repetition; add images of it when you can"
            for c, n in sorted(train_support.items()) if n < minimum]
