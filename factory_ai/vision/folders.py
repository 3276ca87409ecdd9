"""Labelled image folders (ImageFolder layout), and reproducible train/val/test splits.

Why groups: camera software re-saves images, people copy a folder twice, and a part is often
photographed more than once (a re-shoot, a second station, neighbouring cells of one solar
module). If two pictures of one physical part land in training and in test, the test accuracy
is a lie. Images are therefore grouped, and a group goes to one split as a whole:

- byte-identical files (same sha256) are one group;
- near-duplicates are linked too: each image becomes a 32 x 32 thumbnail, high-passed (the
  image minus its blur, so lighting does not count) and with the dataset's mean thumbnail
  removed (so the structure every part shares, such as a solar cell's busbars, does not
  count); two images whose thumbnails correlate at 0.9 or more are linked, and links chain.
  If that makes one group hold more than a tenth of the data, the bar is raised (0.95, 0.98,
  0.995) until no group does, so a dataset of near-identical parts still splits.

Groups are dealt to the splits so that each class's share in each split is as close as the
groups allow (largest groups first, then at random), seeded, and the split is written next
to the model so anyone can rebuild it.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

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
            "counts": {part: counts(samples) for part, samples in self.parts().items()},
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
    """Stratified, seeded split that keeps each group of duplicates and near-duplicates in one part."""
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise DataError(f"split fractions val={val} test={test} must be in [0, 1) and sum below 1")
    groups = _groups(samples)
    totals = Counter(s.label for s in samples)
    shares = {"test": test, "val": val, "train": 1 - val - test}
    parts = [part for part, share in shares.items() if share > 0]
    target = {part: {label: shares[part] * n for label, n in totals.items()} for part in parts}
    have: dict[str, Counter[str]] = {part: Counter() for part in parts}
    rng = np.random.default_rng(seed)
    chance = rng.permutation(len(groups))
    result = Split()
    for index in sorted(range(len(groups)), key=lambda g: (-len(groups[g]), chance[g])):
        members = groups[index]
        makeup = Counter(m.label for m in members)
        # The part furthest below its target for this group's classes; ties go to the first
        # (test, then val, then train), so a rare class is represented in test first.
        part = max(parts, key=lambda p: sum(n * (target[p][c] - have[p][c]) / target[p][c]
                                            for c, n in makeup.items()))  # noqa: B023 - used at once
        have[part].update(makeup)
        getattr(result, part).extend(members)
    short = sorted(label for label in totals if not have["train"][label])
    if short:
        raise DataError(f"class(es) {', '.join(repr(c) for c in short)} have too few to split: each class needs "
                        "at least 3 distinct images (copies and near-copies count once)")
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
    """Byte-identical files, then near-duplicates, as groups (see the module docstring)."""
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_hash[s.sha256].append(s)
    exact = sorted(by_hash.values(), key=lambda g: g[0].sha256)
    for members in exact:
        labels = sorted({m.label for m in members})
        if len(labels) > 1:
            log.warning("identical image under several classes (%s): %s", ", ".join(labels),
                        ", ".join(str(m.path) for m in members))
        elif len(members) > 1:
            log.info("%d byte-identical copies kept together: %s", len(members), ", ".join(m.path.name for m in members))
    merged = [sum((exact[i] for i in chain), []) for chain in near_duplicates([g[0].path for g in exact])]
    linked = sum(len(m) for m in merged if len(m) > 1)
    if linked:
        log.info("%d images kept together in %d groups of duplicates or near-duplicates", linked,
                 sum(1 for m in merged if len(m) > 1))
    return merged


THUMB = 32
LINK_BARS = (0.9, 0.95, 0.98, 0.995)
LARGEST_GROUP = 0.1


def near_duplicates(paths: list[Path]) -> list[list[int]]:
    """Indices of ``paths`` grouped by near-duplicate links (every index in exactly one group)."""
    n = len(paths)
    if n < 2:
        return [[i] for i in range(n)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        thumbs = list(pool.map(_thumbnail, paths))
    ok = [i for i, t in enumerate(thumbs) if t is not None]
    if len(ok) < 2:
        return [[i] for i in range(n)]
    x = np.stack([thumbs[i] for i in ok])
    x = x - x.mean(axis=0)
    x = x - x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    pairs: list[tuple[float, int, int]] = []
    for start in range(0, len(ok), 1024):
        block = x[start : start + 1024] @ x.T
        rows, cols = np.nonzero(block >= LINK_BARS[0])
        for r, c, value in zip(rows, cols, block[rows, cols], strict=True):
            if start + r < c:
                pairs.append((float(value), ok[start + r], ok[c]))
    for bar in LINK_BARS:
        groups = _union([(a, b) for value, a, b in pairs if value >= bar], n)
        if max(len(g) for g in groups) <= max(2, LARGEST_GROUP * n):
            return groups
    return [[i] for i in range(n)]


def _thumbnail(path: Path) -> np.ndarray | None:
    try:
        with Image.open(path) as image:
            image.draft("L", (THUMB * 4, THUMB * 4))  # JPEG decodes at a reduced size: much faster
            small = image.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX)
    except Exception:  # noqa: BLE001 - an unreadable image is reported when its pixels are read
        return None
    fine = np.asarray(small, dtype=np.float32) - np.asarray(small.filter(ImageFilter.GaussianBlur(THUMB / 16)),
                                                           dtype=np.float32)
    return fine.ravel()


def _union(pairs: list[tuple[int, int]], n: int) -> list[list[int]]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[root(i)].append(i)
    return list(groups.values())


def counts(samples: list[Sample]) -> dict[str, int]:
    """Images per class."""
    found: dict[str, int] = defaultdict(int)
    for s in samples:
        found[s.label] += 1
    return dict(sorted(found.items()))
