"""The pipeline on real data: a short run on a subset of the NEU steel-surface images.

Full training and the accuracy target live in bench/vision_accuracy.py; this proves that
real, greyscale-in-RGB JPEG files with a known duplicate go through every step and that the
network learns the six defect types well beyond chance.
"""

import shutil
from pathlib import Path

import pytest

from factory_ai.registry import Registry
from tests.conftest import neu_dir

pytestmark = pytest.mark.slow


def test_short_training_on_a_neu_subset(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from factory_ai.vision.train.fit import TrainConfig
    from factory_ai.vision.train.pipeline import VisionJob, run

    source = neu_dir()
    subset = tmp_path / "neu"
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        # The first 60 of each class, plus the one known byte-identical pair in NEU.
        files = [p for p in folder.glob("*.jpg")
                 if int(p.stem.rsplit("_", 1)[1]) <= 60 or p.name in ("patches_101.jpg", "patches_105.jpg")]
        (subset / folder.name).mkdir(parents=True)
        for f in files:
            shutil.copy(f, subset / folder.name / f.name)
    # patches_101 and patches_105 are byte-identical in NEU: both are in this subset.
    assert (subset / "patches" / "patches_101.jpg").read_bytes() == (subset / "patches" / "patches_105.jpg").read_bytes()
    job = VisionJob(data=subset, name="neu", progress=False, test_fraction=0.25,
                    train=TrainConfig(epochs=14, image_size=64, width=12, batch_size=32, threads=2))
    outcome = run(job, Registry(tmp_path / "models"))
    card = outcome.card
    assert card["input"]["channels"] == 1  # R=G=B everywhere: trained as grey
    assert card["good_classes"] == []
    assert len(card["classes"]) == 6
    import json

    split = json.loads((outcome.ref.path / "split.json").read_text())
    where = {f["path"]: part for part, files in split["files"].items() for f in files}
    assert where["patches/patches_101.jpg"] == where["patches/patches_105.jpg"]
    # Chance is 1/6; a short run on 300 images reaches far above it.
    assert outcome.evaluation["accuracy"] >= 0.75, outcome.evaluation
