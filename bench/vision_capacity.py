"""Benchmark: what more capacity and resolution buy the defect classifier on one dataset.

``bench/vision_accuracy.py`` answers "do the defaults work"; this one answers "is the data the
limit, or the compute a CPU default can afford". It takes the split and canvas that
`factory-ai train vision` would choose (same functions, same seed), then trains several
variants of the network side by side and prints one table of test-split figures: macro-F1,
balanced accuracy, AUROC of the defect score, the escape and false-reject rates of the plain
verdict, and the escape rate once the threshold is set on the validation split for 5 % false
rejects.

Variants (``--variants``, comma-separated, each with an optional ``@seed``):

- ``default``: TrainConfig() as shipped (width 32, 40 epochs, stem stride 4 on a 256 canvas);
- ``fullres``: stem stride 2, so the residual stages see twice the resolution (about 4x compute);
- ``wide``: width 64, 80 epochs, patience 20 (about 8x compute);
- ``wide-fullres``: both (about 30x compute);
- any of them with ``+perimage``: each image standardised by its own mean and spread in the
  graph, instead of the training set's constants (brightness that varies by module or camera).

Trained torch networks are evaluated directly (the export and its parity check are
``vision_accuracy.py``'s business). With ``--parallel N`` the variants run as N processes at
once, which fills a GPU; on a 2-core CPU keep it at 1 and expect hours for the large ones.
``--pack FILE`` writes the chosen canvases and split as one tar of lossless WebP images, and
``--data FILE.tar`` reads such a pack, so the study can run on a machine that lacks the dataset.

    python bench/vision_capacity.py --data ../shared/datasets/elpv_solar_cells/classes \\
        [--variants default,default@1,wide-fullres+perimage] [--parallel 8] [--device cuda]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "default": {},
    "fullres": {"stem_stride": 2},
    "wide": {"width": 64, "epochs": 80, "patience": 20},
    "wide-fullres": {"width": 64, "epochs": 80, "patience": 20, "stem_stride": 2},
}


def parse_variant(text: str) -> tuple[dict, bool, int]:
    name, _, seed = text.partition("@")
    name, per_image = (name[: -len("+perimage")], True) if name.endswith("+perimage") else (name, False)
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}: {', '.join(VARIANTS)} (optionally +perimage, @seed)")
    return VARIANTS[name], per_image, int(seed or 0)


def split_of(folder: Path):  # noqa: ANN201 - (classes, {part: PixelSet}, canvas)
    """The split and pixels `train vision` would use, by the pipeline's own functions."""
    from factory_ai.vision import folders, geometry
    from factory_ai.vision.images import InputSpec
    from factory_ai.vision.train.pipeline import _channels, _pixels

    samples = folders.scan(folder)
    classes = folders.classes_of(samples)
    split = folders.split(samples, val=0.1, test=0.2, seed=0)
    choice = geometry.choose(geometry.sizes_of([s.path for s in split.train]))
    spec = InputSpec(_channels("auto", split.train), choice.height, choice.width, choice.fit)
    parts = {name: _pixels(members, classes, spec) for name, members in
             (("train", split.train), ("val", split.val), ("test", split.test))}
    return classes, parts, (choice.height, choice.width)


def write_pack(path: Path, classes: list[str], parts: dict) -> None:
    from PIL import Image

    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for part, pixels in parts.items():
            for i, image in enumerate(pixels.pixels):
                buffer = io.BytesIO()
                Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(
                    buffer, "WEBP", lossless=True, quality=100, method=4)
                add(f"{part}/{i:05d}.webp", buffer.getvalue())
            add(f"{part}_labels.json", json.dumps(pixels.labels.tolist()).encode())
        add("classes.json", json.dumps(classes).encode())
        # WebP has no grey mode (a grey image comes back as RGB): the channel count travels too.
        add("channels.json", json.dumps(int(next(iter(parts.values())).pixels.shape[1])).encode())


def read_pack(path: Path):  # noqa: ANN201 - (classes, {part: PixelSet})
    from PIL import Image

    from factory_ai.vision.train.fit import PixelSet

    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
        channels = json.loads(tar.extractfile(members["channels.json"]).read()) if "channels.json" in members else 3
        mode = "L" if channels == 1 else "RGB"
        parts = {}
        for part in ("train", "val", "test"):
            names = sorted(n for n in members if n.startswith(part + "/"))
            x = np.stack([np.asarray(Image.open(io.BytesIO(tar.extractfile(members[n]).read())).convert(mode))
                          for n in names])
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
            labels = np.array(json.loads(tar.extractfile(members[f"{part}_labels.json"]).read()), dtype=np.int64)
            parts[part] = PixelSet(np.ascontiguousarray(x), labels)
        classes = json.loads(tar.extractfile(members["classes.json"]).read())
    return classes, parts


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(score)  # ties share their mean rank, so the order of the files cannot matter
    n1, n0 = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")


def train_one(data: Path, variant: str, device: str, threads: int) -> dict:
    """Train one variant and return its test figures."""
    import torch

    from factory_ai.vision.metrics import balanced_accuracy, confusion_matrix, macro_f1
    from factory_ai.vision.train import fit as fitting
    from factory_ai.vision.train.network import SurfaceNet

    overrides, per_image, seed = parse_variant(variant)
    if per_image:
        def own_statistics(self, pixels: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
            x = pixels.float()
            return (x - x.mean(dim=(1, 2, 3), keepdim=True)) / (x.std(dim=(1, 2, 3), keepdim=True) + 1.0)

        SurfaceNet.normalise = own_statistics
    classes, parts = read_pack(data) if data.suffix == ".tar" else split_of(data)[:2]
    config = fitting.TrainConfig(seed=seed, device=device, threads=threads, **overrides)
    start = time.perf_counter()
    trained = fitting.fit(parts["train"], parts["val"], classes, config, progress=False)
    seconds = time.perf_counter() - start
    network = trained.network.to("cuda" if trained.device == "cuda" else "cpu")

    @torch.no_grad()
    def probabilities(pixels: np.ndarray) -> np.ndarray:
        dev = next(network.parameters()).device
        return np.concatenate([network.logits(torch.from_numpy(pixels[i:i + 64]).to(dev)).float().softmax(1)
                               .cpu().numpy() for i in range(0, len(pixels), 64)])

    p_test, p_val = probabilities(parts["test"].pixels), probabilities(parts["val"].pixels)
    y_test, y_val = parts["test"].labels, parts["val"].labels
    conf = confusion_matrix(y_test, p_test.argmax(1), len(classes))
    row = {"variant": variant, "device": trained.device, "seconds": round(seconds, 1), "best_epoch": trained.best_epoch,
           "epochs_run": len(trained.history), "accuracy": float(np.trace(conf) / conf.sum()),
           "balanced_accuracy": balanced_accuracy(conf), "macro_f1": macro_f1(conf)}
    good = [i for i, c in enumerate(classes) if c in ("good", "ok")]
    if good:
        g = good[0]
        bad_test, bad_val = 1 - p_test[:, g], 1 - p_val[:, g]
        defect_test, defect_val = y_test != g, y_val != g
        rejected = p_test.argmax(1) != g
        threshold = float(np.quantile(bad_val[~defect_val], 0.95))
        row.update(auroc=auroc(bad_test, defect_test),
                   escape=float((~rejected & defect_test).sum() / defect_test.sum()),
                   false_reject=float((rejected & ~defect_test).sum() / (~defect_test).sum()),
                   escape_at_val_fr5=float((bad_test[defect_test] <= threshold).mean()),
                   false_reject_at_val_fr5=float((bad_test[~defect_test] > threshold).mean()))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="A labelled folder (class sub-folders) or a pack.")
    parser.add_argument("--variants", default="default,fullres,wide,wide-fullres")
    parser.add_argument("--parallel", type=int, default=1, help="Variants trained at once (processes).")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per process.")
    parser.add_argument("--pack", type=Path, help="Write the split's canvases to this tar and stop.")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a worker process: train this variant, print JSON
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(train_one(args.data, args.one, args.device, args.threads)), flush=True)
        return 0
    if not args.data.exists():
        print(f"{args.data}: not found (the shared datasets are beside the project root)")
        return 0
    if args.pack:
        classes, parts, canvas = split_of(args.data)
        write_pack(args.pack, classes, parts)
        print(f"{args.pack}: {canvas[1]} x {canvas[0]} canvases, "
              f"{', '.join(f'{k} {len(v)}' for k, v in parts.items())}, {args.pack.stat().st_size / 1e6:.1f} MB")
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        parse_variant(v)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    rows, running = [], []
    queue = list(variants)
    while queue or running:
        while queue and len(running) < args.parallel:
            v = queue.pop(0)
            cmd = [sys.executable, __file__, "--data", str(args.data), "--one", v, "--device", args.device,
                   "--threads", str(args.threads)]
            running.append((v, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                                env=env)))
        time.sleep(1)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            out, err = item[1].communicate()
            found = [line[7:] for line in out.splitlines() if line.startswith("RESULT ")]
            if found:
                rows.append(json.loads(found[-1]))
                print(f"{item[0]}: {found[-1]}", flush=True)
            else:
                print(f"{item[0]} failed:\n{err[-2000:]}")
    order = {v: i for i, v in enumerate(variants)}
    rows.sort(key=lambda r: order[r["variant"]])

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f} %"

    print(f"\n{args.data}: test split, {rows[0]['device'] if rows else '-'}")
    print("| variant | macro-F1 | balanced acc. | AUROC | escape | false reject | escape at 5 % FR (val) | "
          "best epoch | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['variant']} | {r['macro_f1']:.3f} | {r['balanced_accuracy']:.3f} | {r.get('auroc', float('nan')):.3f} "
              f"| {pct(r.get('escape'))} | {pct(r.get('false_reject'))} | {pct(r.get('escape_at_val_fr5'))} "
              f"(FR {pct(r.get('false_reject_at_val_fr5'))}) | {r['best_epoch']}/{r['epochs_run']} | {r['seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
