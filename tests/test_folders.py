import shutil
from pathlib import Path

import pytest

from factory_ai.errors import DataError
from factory_ai.vision import folders


def _dataset(tmp_path: Path) -> Path:
    from factory_ai.samples.images import generate

    root = tmp_path / "data"
    generate(root, per_class=20, size=32, seed=1)
    # Byte-identical copies, inside a class and across classes.
    shutil.copy(root / "spot" / "spot_000.png", root / "spot" / "copy_of_spot_000.png")
    shutil.copy(root / "good" / "good_001.png", root / "crack" / "mislabelled_good_001.png")
    return root


def test_split_is_stratified_seeded_and_keeps_copies_together(tmp_path: Path) -> None:
    samples = folders.scan(_dataset(tmp_path))
    a = folders.split(samples, val=0.1, test=0.2, seed=5)
    b = folders.split(samples, val=0.1, test=0.2, seed=5)
    c = folders.split(samples, val=0.1, test=0.2, seed=6)
    assert [s.path for s in a.test] == [s.path for s in b.test]
    assert [s.path for s in a.test] != [s.path for s in c.test]
    part_of = {}
    for name, members in a.parts().items():
        for s in members:
            part_of.setdefault(s.sha256, set()).add(name)
    assert all(len(parts) == 1 for parts in part_of.values())
    assert sum(len(m) for m in a.parts().values()) == len(samples)
    for label in ("good", "scratch", "spot", "crack"):
        assert sum(s.label == label for s in a.test) >= 4


def test_holdout_drops_training_copies_of_test_images(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    test_root = tmp_path / "test"
    (test_root / "spot").mkdir(parents=True)
    shutil.copy(root / "spot" / "spot_005.png", test_root / "spot" / "x.png")
    result = folders.holdout(folders.scan(root), folders.scan(test_root), val=0.1, seed=0)
    assert len(result.test) == 1
    train_hashes = {s.sha256 for s in result.train + result.val}
    assert result.test[0].sha256 not in train_hashes


def test_fingerprint_tracks_content_and_labels(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    before = folders.fingerprint(folders.scan(root))
    assert folders.fingerprint(folders.scan(root)) == before
    (root / "spot" / "copy_of_spot_000.png").rename(root / "crack" / "copy_of_spot_000.png")
    assert folders.fingerprint(folders.scan(root)) != before


def test_describe_records_relative_paths(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    split = folders.split(folders.scan(root), val=0.1, test=0.2, seed=0)
    record = split.describe({"data": root}, seed=0, fractions={"val": 0.1, "test": 0.2})
    entry = record["files"]["test"][0]
    assert entry["root"] == "data" and not entry["path"].startswith("/")
    assert (root / entry["path"]).is_file()
    assert sum(record["counts"]["test"].values()) == len(split.test)


def test_unusable_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a folder"):
        folders.scan(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.png").write_bytes(b"x")
    with pytest.raises(DataError, match="no class folders"):
        folders.scan(tmp_path / "flat")
    (tmp_path / "tiny" / "a").mkdir(parents=True)
    (tmp_path / "tiny" / "a" / "1.png").write_bytes(b"1")
    (tmp_path / "tiny" / "a" / "2.png").write_bytes(b"2")
    with pytest.raises(DataError, match="too few to split"):
        folders.split(folders.scan(tmp_path / "tiny"), val=0.1, test=0.2, seed=0)
