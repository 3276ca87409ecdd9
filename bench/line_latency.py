"""Benchmark: image-to-verdict latency through the daemon, against the bare model.

Starts the daemon in this process (SQLite store, the committed demo-surface model, an
image-folder connector and the HTTP API on 127.0.0.1) and feeds it product images at
``--rate`` images/s (20 by default) three ways, in alternating rounds so that machine noise
hits all three alike:

- **bare**: decode + model, ``judge_bytes`` on the daemon's own loaded model, no daemon around it;
- **folder**: the image file is written into the camera folder; latency runs from the start
  of the write until the daemon publishes the verdict (what a reject gate waits for);
- **http**: ``POST /api/v1/inspect`` with httpx over a kept-alive connection; latency runs until
  the response is read.

Prints p50 and p99 per path and the overhead over the bare model (path minus bare, at the
same percentile). Target: overhead at p99 <= 20 ms.

    python bench/line_latency.py [--images 300] [--rate 20] [--threads 2]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=300, help="Images per path.")
    parser.add_argument("--rate", type=float, default=20.0, help="Images per second.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (bare, folder, http).")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads.")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "line_latency")
    args = parser.parse_args()

    import httpx

    from factory_ai.config import load_settings
    from factory_ai.connectors.config import ImageFolder
    from factory_ai.daemon.service import Daemon
    from factory_ai.vision.inspect import judge_bytes

    shutil.rmtree(args.out, ignore_errors=True)
    camera = args.out / "camera"
    camera.mkdir(parents=True)
    settings = load_settings(None, environ={
        "FACTORY_AI_STORE__URL": f"sqlite:///{args.out / 'factory.db'}",
        "FACTORY_AI_MODELS__DIR": str(ROOT / "models"),
        "FACTORY_AI_RUNTIME__THREADS": str(args.threads),
        "FACTORY_AI_DAEMON__SPOOL_DIR": str(args.out / "spool"),
        "FACTORY_AI_API__PORT": "0",
        "FACTORY_AI_API__TOKEN": TOKEN,
    })
    folder = ImageFolder.model_validate({"kind": "image-folder", "name": "camera", "path": str(camera),
                                         "settle_seconds": 0.5, "line": "bench"})
    daemon = Daemon(settings, [folder])
    published: dict[str, float] = {}
    arrived = threading.Condition()

    def record(verdict: dict) -> None:
        with arrived:
            published[verdict["source"]] = time.perf_counter()
            arrived.notify_all()

    daemon.inspector.publishers.append(record)
    daemon.start()
    host, port = daemon.api_address
    url = f"http://{host}:{port}/api/v1/inspect"
    images = _images(args.images)
    model = daemon.vision.get().model
    print(f"model demo-surface on {model.provider}, {args.threads} threads; {len(images)} images per path at "
          f"{args.rate:g}/s, {args.rounds} rounds", flush=True)
    for data in images[:20]:  # warm-up: sessions, allocators, the HTTP connection
        judge_bytes(data, "warm", model)
    latencies: dict[str, list[float]] = {"bare": [], "folder": [], "http": []}
    period = 1.0 / args.rate
    client = httpx.Client(timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})
    client.post(url, files={"image": ("warm.png", images[0], "image/png")})
    chunks = np.array_split(np.arange(len(images)), args.rounds)
    try:
        for chunk in chunks:
            for path in ("bare", "folder", "http"):
                next_at = time.perf_counter()
                for i in chunk:
                    next_at += period
                    data = images[i]
                    if path == "bare":
                        start = time.perf_counter()
                        judge_bytes(data, "bare", model)
                        latencies["bare"].append(time.perf_counter() - start)
                    elif path == "http":
                        start = time.perf_counter()
                        response = client.post(url, files={"image": (f"{i}.png", data, "image/png")})
                        latencies["http"].append(time.perf_counter() - start)
                        assert response.status_code == 200, response.text
                    else:
                        target = camera / f"r{len(latencies['folder']):05d}.png"
                        # The clock starts before the write: the watcher may judge the file as
                        # soon as its last byte lands, before close() returns here.
                        start = time.perf_counter()
                        with open(target, "wb") as handle:
                            handle.write(data)
                        source = str(target)
                        with arrived:
                            if not arrived.wait_for(lambda s=source: s in published, timeout=10):
                                raise RuntimeError(f"no verdict for {target.name} within 10 s")
                        latencies["folder"].append(published[source] - start)
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
    finally:
        client.close()
        daemon.stop()

    bare = np.array(latencies["bare"]) * 1000
    print(f"\n{'path':<8} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'overhead p50':>13} {'overhead p99':>13}")
    for name, values in latencies.items():
        ms = np.array(values) * 1000
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        over = "" if name == "bare" else (f"{p50 - np.percentile(bare, 50):12.2f}  {p99 - np.percentile(bare, 99):12.2f}"
                                          + ("  (target <= 20 ms at p99)" if name == "folder" else ""))
        print(f"{name:<8} {len(ms):5d} {p50:8.2f} {p99:8.2f} {over}")
    return 0


def _images(n: int) -> list[bytes]:
    """Product images from sample_data/images (generated if absent), cycled to ``n``."""
    folder = ROOT / "sample_data" / "images"
    files = sorted(folder.rglob("*.png"))
    if not files:
        from factory_ai.samples.images import generate

        folder = ROOT / "var" / "bench" / "images"
        generate(folder, per_class=20, size=96, seed=1)
        files = sorted(folder.rglob("*.png"))
    return [files[i % len(files)].read_bytes() for i in range(n)]


if __name__ == "__main__":
    raise SystemExit(main())
