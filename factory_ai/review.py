"""The review queue: operators label uncertain parts, and the labels become training data.

Why: the images a model is unsure about (verdict ``review``) and the ones an operator doubts
(flagged) are exactly the ones that teach the next model the most. A label is a class name of
the model that judged the image; ``pass`` is accepted too when that model has exactly one good
class, and ``reject`` when it has exactly one defect class. Labelling again overwrites the
earlier label (people correct themselves). Only images
the daemon kept (``[daemon] keep_images``: review verdicts by default, ``all`` to keep every
image) can become training data; a flagged image that was not kept is labelled but not trained on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_
from sqlmodel import Session, select

from factory_ai.errors import DataError
from factory_ai.store.tables import Inspection, Review
from factory_ai.store.types import utcnow

REVIEW_VERDICT = "review"

# (model_name, model_version) -> (classes, good classes[, whether new names are accepted]): from the card
ClassesOf = Callable[[str | None, str | None], tuple]
NEW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$")


@dataclass(frozen=True)
class Item:
    inspection: Inspection
    review: Review | None


def queue(session: Session, limit: int = 50, line: str | None = None) -> list[Item]:
    """Unlabelled inspections with the ``review`` verdict or a flag, oldest first (first in, first out)."""
    query = _waiting(select(Inspection, Review)).order_by(Inspection.id).limit(limit)
    if line:
        query = query.where(Inspection.line == line)
    return [Item(i, r) for i, r in session.exec(query).all()]


def waiting(session: Session) -> int:
    """How many parts wait in the queue."""
    return int(session.exec(_waiting(select(func.count()).select_from(Inspection))).one())


def _waiting(query):  # noqa: ANN001, ANN202
    return (query.join(Review, Review.inspection_id == Inspection.id, isouter=True)
            .where(or_(Inspection.verdict == REVIEW_VERDICT, Review.flagged.is_(True)), Review.label.is_(None)))


def choices(inspection: Inspection, classes_of: ClassesOf) -> tuple[list[str], list[str], bool]:
    """What a reviewer may call this part: the classes of every model that judged it, their good
    classes, and whether a new name (a defect type not seen before) is accepted."""
    judges = [(inspection.model_name, inspection.model_version)] + [
        (name, answer.get("version")) for name, answer in (inspection.answers or {}).items()
        if name != inspection.model_name]
    classes, good, open_set = [], [], False
    for name, version in judges:
        found = classes_of(name, version)
        classes += [c for c in found[0] if c not in classes]
        good += [c for c in found[1] if c not in good]
        open_set = open_set or (len(found) > 2 and bool(found[2]))
    return classes, good, open_set


def label(session: Session, inspection_id: int, value: str, reviewer: str, classes_of: ClassesOf) -> Review:
    """Record ``value`` as the true class of the inspection's image."""
    inspection = _inspection(session, inspection_id)
    classes, good, open_set = choices(inspection, classes_of)
    bad = [c for c in classes if c not in good]
    if value == "pass" and len(good) == 1:
        value = good[0]
    elif value == "reject" and len(bad) == 1:  # a good/defect model: reject names its one defect class
        value = bad[0]
    if value not in classes and open_set and NEW_NAME.match(value) and value not in ("pass", "reject"):
        classes.append(value)  # a defect type named here for the first time
    if value not in classes:
        hint = "".join(f" (or {word})" for word, names in (("pass", good), ("reject", bad)) if len(names) == 1)
        raise DataError(f"label {value!r} is not a class of {inspection.model_name} {inspection.model_version}: "
                        f"use one of {', '.join(classes)}{hint}")
    review = _review(session, inspection_id)
    review.label, review.reviewer, review.labelled_at = value, reviewer, utcnow()
    return review


def flag(session: Session, inspection_id: int, reviewer: str) -> Review:
    """Put an inspection in the review queue whatever its verdict was."""
    _inspection(session, inspection_id)
    review = _review(session, inspection_id)
    review.flagged, review.reviewer = True, review.reviewer or reviewer
    return review


def labelled(session: Session, model_name: str | list[str] | None = None,
             since: datetime | None = None) -> list[tuple[str, str, int]]:
    """(kept image path, label, inspection id) of every labelled inspection with a kept image,
    of the inspections the named model (or any of the named models) judged."""
    query = (select(Inspection.image_path, Review.label, Inspection.id)
             .join(Review, Review.inspection_id == Inspection.id)
             .where(Review.label.is_not(None), Inspection.image_path.is_not(None)).order_by(Inspection.id))
    if isinstance(model_name, list):
        query = query.where(Inspection.model_name.in_(model_name))
    elif model_name:
        query = query.where(Inspection.model_name == model_name)
    if since is not None:
        query = query.where(Review.labelled_at >= since)
    return [tuple(row) for row in session.exec(query).all()]


def _inspection(session: Session, inspection_id: int) -> Inspection:
    inspection = session.get(Inspection, inspection_id)
    if inspection is None:
        raise DataError(f"no inspection {inspection_id}")
    return inspection


def _review(session: Session, inspection_id: int) -> Review:
    review = session.exec(select(Review).where(Review.inspection_id == inspection_id)).first()
    if review is None:
        review = Review(inspection_id=inspection_id)
        session.add(review)
    return review
