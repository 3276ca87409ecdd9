"""Labelled image folders (ImageFolder layout), and reproducible train/val/test splits.

Why content hashes: camera software re-saves images, and people copy a folder twice. If the
same bytes land in both training and test, the test accuracy is a lie. Files are therefore
grouped by sha256 and a group is assigned to one split as a whole, stratified by class and
seeded, and the split is written next to the model so anyone can rebuild it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from factory_ai.errors import DataError
from factory_ai.registry import sha256_file
from factory_ai.vision.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    sha256: str


@dataclass
class Split:
    train: list[Sample] = field(default_factory=list)
    val: list[Sample] = field(default_factory=list)
    test: list[Sample] = field(default_factory=list)

    def parts(self) -> dict[str, list[Sample]]:
        return {"train": self.train, "val": self.val, "test": self.test}

    def describe(self, roots: dict[str, Path], seed: int, fractions: dict[str, float] | None) -> dict[str, Any]:
        """JSON-ready record of the split; paths are relative to their dataset folder."""
        resolved = {name: root.resolve() for name, root in roots.items()}

        def entry(sample: Sample) -> dict[str, str]:
            path = sample.path.resolve()
            for name, root in resolved.items():
                if path.is_relative_to(root):
                    return {"root": name, "path": path.relative_to(root).as_posix(),
                            "label": sample.label, "sha256": sample.sha256}
            return {"root": "", "path": str(sample.path), "label": sample.label, "sha256": sample.sha256}

        return {
            "seed": seed,
            "fractions": fractions,
            "roots": {name: str(root) for name, root in roots.items()},
            "counts": {part: _counts(samples) for part, samples in self.parts().items()},
            "files": {part: [entry(s) for s in samples] for part, samples in self.parts().items()},
        }


def scan(root: Path) -> list[Sample]:
    """Every image under ``root/<class>/`` (recursively), hashed; classes are folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root}: no class folders; expected {root}/<class>/<image files>")
    samples = []
    for label in classes:
        files = [
            p
            for p in sorted((root / label).rglob("*"))
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        ]
        if not files:
            log.warning("%s: class folder %r holds no images; skipped", root, label)
        samples.extend(Sample(p, label, sha256_file(p)) for p in files)
    if not samples:
        raise DataError(f"{root}: no image files found")
    return samples


def classes_of(samples: list[Sample]) -> list[str]:
    return sorted({s.label for s in samples})


def fingerprint(samples: list[Sample]) -> str:
    """sha256 over (label, content hash) pairs: changes when any image or label changes."""
    digest = hashlib.sha256()
    for label, sha in sorted((s.label, s.sha256) for s in samples):
        digest.update(f"{label}\t{sha}\n".encode())
    return digest.hexdigest()


def split(samples: list[Sample], *, val: float, test: float, seed: int) -> Split:
    """Stratified, seeded split that keeps byte-identical files in one part."""
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise DataError(f"split fractions val={val} test={test} must be in [0, 1) and sum below 1")
    groups = _groups(samples)
    by_class: dict[str, list[list[Sample]]] = defaultdict(list)
    for members in groups:
        by_class[members[0].label].append(members)
    rng = np.random.default_rng(seed)
    result = Split()
    for label in sorted(by_class):
        class_groups = by_class[label]
        order = rng.permutation(len(class_groups))
        n = len(class_groups)
        n_test = _share(n, test)
        n_val = _share(n - n_test, val / (1 - test)) if val else 0
        if n - n_test - n_val < 1:
            raise DataError(f"class {label!r} has {n} distinct images: too few to split (need at least 3)")
        for rank, index in enumerate(order):
            part = result.test if rank < n_test else result.val if rank < n_test + n_val else result.train
            part.extend(class_groups[index])
    return result


def holdout(train_samples: list[Sample], test_samples: list[Sample], *, val: float, seed: int) -> Split:
    """Split for a given test folder: val comes from the training folder, duplicates dropped."""
    test_hashes = {s.sha256 for s in test_samples}
    kept = [s for s in train_samples if s.sha256 not in test_hashes]
    if dropped := len(train_samples) - len(kept):
        log.warning("dropped %d training images that are byte-identical to test images", dropped)
    inner = split(kept, val=val, test=0.0, seed=seed)
    return Split(train=inner.train, val=inner.val, test=list(test_samples))


def _groups(samples: list[Sample]) -> list[list[Sample]]:
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_hash[s.sha256].append(s)
    for members in by_hash.values():
        labels = {m.label for m in members}
        if len(labels) > 1:
            log.warning(
                "identical image under several classes (%s): %s", ", ".join(sorted(labels)),
                ", ".join(str(m.path) for m in members),
            )
        elif len(members) > 1:
            log.info("%d byte-identical copies kept together: %s", len(members), ", ".join(m.path.name for m in members))
    return sorted(by_hash.values(), key=lambda g: g[0].sha256)


def _share(n: int, fraction: float) -> int:
    if fraction <= 0:
        return 0
    return max(1, int(round(n * fraction)))


def _counts(samples: list[Sample]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for s in samples:
        counts[s.label] += 1
    return dict(sorted(counts.items()))
