"""Soak: one daemon under a plant's steady load for an hour, with faults, watched every 10 s.

A real ``factory-ai run`` process (SQLite, or ``--postgres`` on a throw-away PostgreSQL) is fed
for ``--minutes`` by

- a real Mosquitto broker carrying ``--rate`` readings/s (default 2,000) from ``--sensors``
  sensors (default 200, ten per asset, one JSON message per asset every 0.1 s, QoS 1);
- a camera folder receiving ``--camera-rate`` images/s (default 5);
- the HTTP upload (``POST /api/v1/inspect``) at ``--upload-rate`` images/s (default 2), whose
  round trip is the verdict latency measured here;
- two console clients on the event stream (``/console/stream``) and a Prometheus-style scrape
  of ``/metrics`` every 5 s;

and, unless ``--no-faults``: the broker restarted at 25 % and 60 % of the run, the inspection
model promoted (a new version) at 40 %, and with ``--postgres`` the database stopped for 60 s
at 50 %. Every 10 s it samples the daemon's RSS, open file descriptors, threads, ingest queue
depth, spool size, and its heap as ``/metrics`` gives it (malloc's live and free bytes, SQLite's
caches), which tells a leak from fragmentation when RSS grows. At the end it drains the daemon,
stops it with SIGTERM and counts.

It prints: readings published (acknowledged by the broker) against readings stored, verdicts
asked for against inspections stored (zero lost is the target), RSS growth per hour after the
warm-up (the first 5 minutes, or a third of a shorter run; target <= 5 MB/h), file descriptors
and threads at the start and end of the measured part (target: flat), and p50/p99 verdict
latency in the first and last 10 minutes (a third each for shorter runs; target: the last p99
within 20 % of the first). ``soak.png`` plots the samples; ``soak.json`` holds every figure.

    python bench/soak.py [--minutes 60] [--postgres] [--no-faults] [--out var/bench/soak]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "soak-token"
ASSET_SENSORS = 10


@dataclass
class Load:
    """What the generators sent, counted by what the far end acknowledged."""

    readings_acked: int = 0
    readings_sent: int = 0
    camera_images: int = 0
    uploads_ok: int = 0
    uploads_failed: int = 0
    upload_errors: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, ms)
    stream_events: list[int] = field(default_factory=lambda: [0, 0])
    scrapes: int = 0
    scrape_failures: int = 0
    faults: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def proc_sample(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"rss_mb": int(fields["VmRSS"].split()[0]) / 1024, "threads": int(fields["Threads"]),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def rss_by_mapping(pid: int) -> dict[str, float]:
    """The process's RSS in MB per mapping: ``[heap]``, ``[anon]`` (malloc's other arenas,
    Python's object arenas, thread stacks) and each mapped file by name (shared libraries,
    SQLite's ``-shm``). Taken after the warm-up and at the end, it says where growth lives."""
    out: dict[str, float] = {}
    name = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                if line.startswith("Rss:"):
                    out[name] = out.get(name, 0.0) + int(line.split()[1]) / 1024
                elif not line[:1].isupper():  # a mapping's header: address range, perms, ..., path
                    parts = line.split(maxsplit=5)
                    path = parts[5].strip() if len(parts) > 5 else ""
                    name = path if path.startswith("[") else Path(path).name if path else "[anon]"
    except OSError:
        return {}
    return out


def grown(before: dict[str, float], after: dict[str, float], top: int = 5) -> list[tuple[str, float]]:
    """The mappings whose RSS changed most between two ``rss_by_mapping`` snapshots (MB)."""
    change = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in set(before) | set(after)}
    return sorted(((k, round(v, 2)) for k, v in change.items() if abs(v) >= 0.05), key=lambda kv: -abs(kv[1]))[:top]


def write_plant(folder: Path, broker_port: int, api_port: int, db_url: str) -> Path:
    from factory_ai.registry import read_card, write_card

    models = folder / "models" / "demo-surface"
    models.mkdir(parents=True)
    shutil.copytree(ROOT / "models" / "demo-surface" / "v1", models / "v1",
                    ignore=shutil.ignore_patterns("*.png", "*.pt"))
    shutil.copytree(models / "v1", models / "v2")  # the version promoted mid-run
    card = read_card(models / "v2")
    card["version"] = "v2"
    write_card(models / "v2", card)
    (models / "CURRENT").write_text("v1\n")
    connectors = folder / "connectors"
    connectors.mkdir()
    (connectors / "camera.toml").write_text('kind = "image-folder"\npath = "../camera"\nsettle_seconds = 0.1\n'
                                            'line = "line1"\n')
    fields = "".join(f'[[fields]]\nfield = "s{i}"\nsensor = "s{i}"\n' for i in range(ASSET_SENSORS))
    (connectors / "sensors.toml").write_text(
        f'kind = "mqtt"\nport = {broker_port}\ntopics = ["soak/+/telemetry"]\nasset_from_topic = -2\n'
        f'timestamp_field = "ts"\nclient_id = "factory-ai-soak"\n{fields}')
    (folder / "factory.toml").write_text(
        f'[store]\nurl = "{db_url}"\n[runtime]\nthreads = 1\n'
        '[inspect]\nmodel = "demo-surface"\n'
        f'[daemon]\nreload_check_seconds = 1.0\nkeep_images = "none"\n[api]\nport = {api_port}\ntoken = "{TOKEN}"\n')
    return folder / "factory.toml"


def publish_readings(port: int, rate: int, sensors: int, stop: threading.Event, load: Load) -> None:
    """One message of ten readings per asset, paced to ``rate`` readings/s; QoS 1 on a persistent
    session, so readings published while the broker is away are sent when it returns."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="soak-gateway", clean_session=False,
                         protocol=mqtt.MQTTv311)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.reconnect_delay_set(min_delay=1, max_delay=2)

    def acked(client, userdata, mid, reason, properties) -> None:  # noqa: ANN001
        with load.lock:
            load.readings_acked += ASSET_SENSORS

    client.on_publish = acked
    client.connect("127.0.0.1", port)
    client.loop_start()
    assets = max(1, sensors // ASSET_SENSORS)
    tick = assets * ASSET_SENSORS / rate  # seconds between rounds over every asset
    next_round = time.monotonic()
    rng = np.random.default_rng(0)
    while not stop.is_set():
        ts = time.time()
        for a in range(assets):
            payload = {"ts": ts, **{f"s{i}": float(rng.normal(50, 5)) for i in range(ASSET_SENSORS)}}
            client.publish(f"soak/asset-{a:03d}/telemetry", json.dumps(payload), qos=1)
            load.readings_sent += ASSET_SENSORS
        next_round += tick
        time.sleep(max(0.0, next_round - time.monotonic()))
    deadline = time.monotonic() + 120
    while load.readings_acked < load.readings_sent and time.monotonic() < deadline:
        time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


def feed_camera(folder: Path, images: list[Path], rate: float, stop: threading.Event, load: Load) -> None:
    i = 0
    while not stop.wait(1.0 / rate):
        source = images[i % len(images)]
        temp = folder / f".{i}.tmp"
        shutil.copyfile(source, temp)
        os.replace(temp, folder / f"soak-{i:07d}{source.suffix}")
        load.camera_images += 1
        i += 1


def upload(api: str, images: list[Path], rate: float, stop: threading.Event, load: Load, t0: float) -> None:
    import httpx

    i = 0
    with httpx.Client(timeout=30) as client:
        while not stop.wait(1.0 / rate):
            path = images[i % len(images)]
            start = time.perf_counter()
            try:
                answer = client.post(f"{api}/api/v1/inspect", headers={"Authorization": f"Bearer {TOKEN}"},
                                     files={"image": (path.name, path.read_bytes(), "image/png")},
                                     data={"source": f"upload:soak-{i}", "line": "line1"})
                ok = answer.status_code == 200
                problem = None if ok else f"{answer.status_code} {answer.text[:120]}"
            except httpx.HTTPError as exc:
                ok, problem = False, repr(exc)
            ms = (time.perf_counter() - start) * 1000
            with load.lock:
                if ok:
                    load.uploads_ok += 1
                    load.latencies.append((time.monotonic() - t0, ms))
                else:
                    load.uploads_failed += 1
                    load.upload_errors.append(problem or "")
            i += 1


def watch_stream(api: str, index: int, stop: threading.Event, load: Load) -> None:
    import httpx

    while not stop.is_set():
        try:
            with httpx.Client(timeout=httpx.Timeout(5, read=20)) as client, \
                    client.stream("GET", f"{api}/console/stream") as events:
                for line in events.iter_lines():
                    if line.startswith("event: inspection"):
                        load.stream_events[index] += 1
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            stop.wait(1.0)


def scrape(api: str, stop: threading.Event, load: Load) -> None:
    import httpx

    with httpx.Client(timeout=10) as client:
        while not stop.wait(5.0):
            try:
                client.get(f"{api}/metrics").raise_for_status()
                load.scrapes += 1
            except httpx.HTTPError:
                load.scrape_failures += 1


HEAP_KINDS = ("malloc_in_use", "malloc_free", "sqlite")


def heap(api: str) -> dict[str, float]:
    """The daemon's ``factory_ai_memory_bytes`` gauges in MB (NaN where missing): whether RSS
    grows with live blocks, with free blocks malloc keeps, or with SQLite's caches."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    figures = dict.fromkeys(HEAP_KINDS, float("nan"))
    try:
        text = httpx.get(f"{api}/metrics", timeout=5).text
    except httpx.HTTPError:
        return figures
    for family in text_string_to_metric_families(text):
        if family.name == "factory_ai_memory_bytes":
            for sample in family.samples:
                if sample.labels.get("kind") in figures:
                    figures[sample.labels["kind"]] = sample.value / 2**20
    return figures


def health(api: str) -> dict[str, Any] | None:
    import httpx

    try:
        return httpx.get(f"{api}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return None


def stored(db_url: str, db_file: Path | None) -> tuple[int, int]:
    """(readings, inspections) in the store."""
    if db_file is not None:
        with sqlite3.connect(db_file) as connection:
            return (connection.execute("SELECT count(*) FROM readings").fetchone()[0],
                    connection.execute("SELECT count(*) FROM inspections").fetchone()[0])
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return (conn.execute(text("SELECT count(*) FROM readings")).scalar_one(),
                    conn.execute(text("SELECT count(*) FROM inspections")).scalar_one())
    finally:
        engine.dispose()


def slope_per_hour(samples: list[dict[str, float]], key: str, after: float) -> float | None:
    points = [(s["t"], s[key]) for s in samples if s["t"] >= after]
    if len(points) < 3:
        return None
    t, v = np.array(points).T
    return float(np.polyfit(t / 3600.0, v, 1)[0])


def percentiles(latencies: list[tuple[float, float]], start: float, end: float) -> dict[str, float | None]:
    values = [ms for t, ms in latencies if start <= t < end]
    if len(values) < 5:
        return {"n": len(values), "p50": None, "p99": None}
    return {"n": len(values), "p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99))}


def plot(samples: list[dict[str, float]], load: Load, path: Path, warmup: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([s["t"] for s in samples]) / 60
    fig, axes = plt.subplots(5, 1, figsize=(9, 12), sharex=True)
    axes[0].plot(t, [s["rss_mb"] for s in samples], color="#1f77b4")
    axes[0].set_ylabel("RSS MB")
    for kind, colour in zip(HEAP_KINDS, ("#2ca02c", "#ff7f0e", "#9467bd"), strict=True):
        values = np.array([s.get(kind, np.nan) for s in samples])  # change since the first sample
        axes[4].plot(t, values - (values[np.isfinite(values)][0] if np.isfinite(values).any() else 0), color=colour,
                     label=kind.replace("_", " "))
    axes[4].set_ylabel("MB since start")
    axes[4].legend(loc="upper left")
    axes[1].plot(t, [s["fds"] for s in samples], label="open files")
    axes[1].plot(t, [s["threads"] for s in samples], label="threads")
    axes[1].legend(loc="upper left")
    axes[2].plot(t, [s["queue"] for s in samples], label="ingest queue")
    axes[2].plot(t, [s["spooled"] for s in samples], label="spooled readings")
    axes[2].legend(loc="upper left")
    if load.latencies:
        lt, ms = np.array(load.latencies).T
        axes[3].plot(lt / 60, ms, ".", markersize=2, color="#555")
    axes[3].set_ylabel("verdict ms (upload)")
    axes[-1].set_xlabel("minutes")
    for ax in axes:
        ax.axvspan(0, warmup / 60, color="#eee")
        for when, _ in load.faults:
            ax.axvline(when / 60, color="#d62728", lw=0.8)
    for when, what in load.faults:
        axes[0].annotate(what, (when / 60, axes[0].get_ylim()[1]), fontsize=7, rotation=90, va="top")
    fig.suptitle("factory-ai soak: RSS, files, threads, queues, latency, heap (grey: warm-up; red: faults)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def soak(minutes: float, out: Path, *, postgres: bool = False, faults: bool = True, rate: int = 2000,
         sensors: int = 200, camera_rate: float = 5.0, upload_rate: float = 2.0, fault_every: float | None = None,
         say=print) -> dict[str, Any]:  # noqa: ANN001
    """Run the soak and return its figures (``bench/soak.py`` prints them; a test asserts on them).

    ``fault_every`` (minutes, 3 or more) repeats the faults from the end of the warm-up on, one
    cycle per period (a broker restart at its start, a promotion, alternating v2 and v1, at a
    quarter, and with PostgreSQL the 60-s database stop at half), to tell a one-off high-water
    mark from a cost paid again at every fault."""
    from factory_ai.registry import Registry
    from factory_ai.samples.images import generate
    from tests.servers import free_port, start_mosquitto, start_postgres, wait_until

    out = out.resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    broker = start_mosquitto()
    server = start_postgres() if postgres else None
    db_file = None if server else out / "plant" / "var" / "factory.db"
    db_url = server.url if server else "sqlite:///var/factory.db"
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    config = write_plant(out / "plant", broker.port, api_port, db_url)
    generate(out / "images", per_class=6, size=64, seed=11)
    images = sorted((out / "images").rglob("*.png"))
    (out / "plant" / "camera").mkdir()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FACTORY_AI_")}
    log = (out / "daemon.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "factory_ai", "--config", str(config), "run"], stdout=log,
                               stderr=subprocess.STDOUT, env=environ, cwd=config.parent, text=True)
    load, stop, samples = Load(), threading.Event(), []
    maps: dict[str, dict[str, float]] = {}
    rss_before: list[tuple[float, str, float]] = []  # RSS just before each fault
    threads: list[threading.Thread] = []
    try:
        if not wait_until(lambda: (health(api) or {}).get("connectors", {}).get("sensors", {}).get("up"), 90):
            raise RuntimeError(f"the daemon did not come up; see {out / 'daemon.log'}")
        t0 = time.monotonic()
        run_seconds = minutes * 60
        warmup = min(300.0, run_seconds / 3)
        window = min(600.0, run_seconds / 3)
        threads = [threading.Thread(target=publish_readings, args=(broker.port, rate, sensors, stop, load)),
                   threading.Thread(target=feed_camera, args=(config.parent / "camera", images, camera_rate, stop,
                                                              load)),
                   threading.Thread(target=upload, args=(api, images, upload_rate, stop, load, t0)),
                   threading.Thread(target=watch_stream, args=(api, 0, stop, load), daemon=True),
                   threading.Thread(target=watch_stream, args=(api, 1, stop, load), daemon=True),
                   threading.Thread(target=scrape, args=(api, stop, load), daemon=True)]
        for thread in threads:
            thread.start()
        plan: list[tuple[float, str]] = []  # (seconds into the run, what)
        if faults and fault_every:
            # the first cycle a little after the warm-up, whose end is the baseline for RSS
            period, start, turn = fault_every * 60, warmup + 15.0, 0
            while start + period <= run_seconds:
                turn += 1
                plan += [(start, "broker restart"), (start + period / 4, f"model promoted v{2 if turn % 2 else 1}")]
                if server is not None:  # back 60 s later, well before the next cycle's restart
                    plan.append((start + period / 2, "database stopped 60 s"))
                start += period
        elif faults:
            plan = [(0.25 * run_seconds, "broker restart"), (0.4 * run_seconds, "model promoted v2"),
                    (0.6 * run_seconds, "broker restart")]
            if server is not None:
                plan.append((0.5 * run_seconds, "database stopped 60 s"))
        plan.sort()
        say(f"soak: {minutes:g} min, {rate} readings/s from {sensors} sensors, camera {camera_rate:g}/s, upload "
            f"{upload_rate:g}/s, {'PostgreSQL' if server else 'SQLite'}; faults: "
            f"{', '.join(f'{w} at {t / 60:.1f} min' for t, w in plan) or 'none'}")
        next_sample = 0.0
        while (now := time.monotonic() - t0) < run_seconds:
            if plan and now >= plan[0][0]:
                _, what = plan.pop(0)
                load.faults.append((now, what))
                rss_before.append((now, what, proc_sample(process.pid)["rss_mb"]))
                say(f"  {now / 60:5.1f} min: {what}")
                if what == "broker restart":
                    broker.stop()
                    time.sleep(3)
                    broker.start()
                elif what.startswith("model promoted"):
                    Registry(config.parent / "models", fallbacks=()).promote("demo-surface", what.split()[-1], "soak")
                elif what == "database stopped 60 s" and server is not None:
                    server.pause()
                    threading.Timer(60, server.resume).start()
            if now >= next_sample:
                state = health(api) or {}
                ingest = state.get("ingest", {})
                sample = {"t": now, **proc_sample(process.pid), "queue": ingest.get("queue_depth", float("nan")),
                          "spooled": ingest.get("spooled", float("nan")), "accepted": ingest.get("accepted", 0),
                          **heap(api)}
                samples.append(sample)
                if now >= warmup and "after_warmup" not in maps:
                    maps["after_warmup"] = rss_by_mapping(process.pid)
                if now + 10.0 >= run_seconds:  # the last sample
                    maps["end"] = rss_by_mapping(process.pid)
                say(f"  {now / 60:5.1f} min  RSS {sample['rss_mb']:6.1f} MB  fds {sample['fds']:3d}  threads "
                    f"{sample['threads']:3d}  queue {sample['queue']}  spooled {sample['spooled']}  stored/accepted "
                    f"{sample['accepted']}  malloc in use {sample['malloc_in_use']:.1f} free "
                    f"{sample['malloc_free']:.1f} sqlite {sample['sqlite']:.2f} MB")
                next_sample += 10.0
            time.sleep(0.5)
        stop.set()
        for thread in threads[:3]:
            thread.join(180)
        # Drain: every acknowledged reading accepted, the queue and the spool empty, every camera image judged.
        wait_until(lambda: (h := health(api)) is not None and h["ingest"]["accepted"] >= load.readings_acked
                   and h["ingest"]["queue_depth"] == 0 and h["ingest"]["spooled"] == 0
                   and h["connectors"]["camera"]["received"] >= load.camera_images, 180, step=1.0)
        final = health(api) or {}
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        stop.set()
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
        broker.close()
    readings, inspections = stored(db_url, db_file) if server is None else stored(server.url, None)
    if server is not None:
        server.stop()
    measured = [s for s in samples if s["t"] >= warmup]
    first = percentiles(load.latencies, warmup, warmup + window)
    last = percentiles(load.latencies, run_seconds - window, run_seconds + 1)
    figures = {
        "minutes": minutes, "database": "postgresql" if server else "sqlite", "faults": load.faults,
        "readings_published": load.readings_acked, "readings_stored": readings,
        "readings_lost": load.readings_acked - readings,
        "ingest": final.get("ingest"),
        "verdicts_asked": load.camera_images + load.uploads_ok, "inspections_stored": inspections,
        "verdicts_lost": load.camera_images + load.uploads_ok - inspections,
        "uploads_failed": load.uploads_failed, "upload_errors": load.upload_errors[:5],
        "stream_events": load.stream_events, "scrapes": load.scrapes, "scrape_failures": load.scrape_failures,
        "warmup_seconds": warmup, "window_seconds": window,
        "rss_start_mb": measured[0]["rss_mb"] if measured else None,
        "rss_end_mb": measured[-1]["rss_mb"] if measured else None,
        "rss_growth_mb_per_hour": slope_per_hour(samples, "rss_mb", warmup),
        "heap_mb": {kind: (measured[0][kind], measured[-1][kind], slope_per_hour(samples, kind, warmup))
                    for kind in HEAP_KINDS} if measured else {},
        "fds": (measured[0]["fds"], measured[-1]["fds"]) if measured else None,
        "fds_max": max(s["fds"] for s in measured) if measured else None,
        "threads": (measured[0]["threads"], measured[-1]["threads"]) if measured else None,
        "threads_max": max(s["threads"] for s in measured) if measured else None,
        "latency_first": first, "latency_last": last,
        "p99_ratio": (last["p99"] / first["p99"]) if first["p99"] and last["p99"] else None,
        "rss_before_faults": rss_before,
        "rss_grown_by_mapping": grown(maps.get("after_warmup", {}), maps.get("end", {})) if maps.get("end") else [],
        "samples": samples,
    }
    plot(samples, load, out / "soak.png", warmup)
    (out / "soak.json").write_text(json.dumps(figures, indent=1, default=str) + "\n")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--postgres", action="store_true", help="The store on a throw-away PostgreSQL (paused 60 s).")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--rate", type=int, default=2000, help="Readings per second over MQTT.")
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--camera-rate", type=float, default=5.0)
    parser.add_argument("--upload-rate", type=float, default=2.0)
    parser.add_argument("--fault-every", type=float, metavar="MINUTES",
                        help="Repeat the faults (broker restart, promotion, database stop) once per period after "
                             "the warm-up, to see whether each one costs memory again.")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "soak")
    args = parser.parse_args()
    if args.fault_every is not None and args.fault_every < 3:
        parser.error("--fault-every: 3 minutes at least (a cycle holds a 60-s database stop and time to recover)")
    f = soak(args.minutes, args.out, postgres=args.postgres, faults=not args.no_faults, rate=args.rate,
             sensors=args.sensors, camera_rate=args.camera_rate, upload_rate=args.upload_rate,
             fault_every=args.fault_every)

    def ms(p: dict[str, Any]) -> str:
        return "-" if p["p50"] is None else f"p50 {p['p50']:.1f} ms, p99 {p['p99']:.1f} ms (n={p['n']})"

    growth = f["rss_growth_mb_per_hour"]
    print(f"\nsoak on {f['database']}, {f['minutes']:g} min, faults: "
          f"{', '.join(f'{w} at {t / 60:.1f} min' for t, w in f['faults']) or 'none'}")
    print(f"readings: {f['readings_published']:,} published (broker-acknowledged), {f['readings_stored']:,} stored, "
          f"lost {f['readings_lost']:,}  (target 0)")
    print(f"verdicts: {f['verdicts_asked']:,} asked (camera + upload), {f['inspections_stored']:,} stored, lost "
          f"{f['verdicts_lost']:,}  (target 0); uploads failed {f['uploads_failed']}")
    print(f"RSS after the {f['warmup_seconds'] / 60:.0f}-min warm-up: {f['rss_start_mb']:.1f} -> {f['rss_end_mb']:.1f} "
          f"MB, growth {'-' if growth is None else f'{growth:+.1f}'} MB/h  (target <= 5)")
    if f["heap_mb"]:
        print("heap after the warm-up (MB, start -> end, per hour): " + "; ".join(
            f"{kind.replace('_', ' ')} {a:.1f} -> {b:.1f}, {'-' if h is None else f'{h:+.1f}'}/h"
            for kind, (a, b, h) in f["heap_mb"].items()))
    if f["rss_grown_by_mapping"]:
        print("RSS change by mapping, warm-up to end: "
              + ", ".join(f"{name} {mb:+.1f} MB" for name, mb in f["rss_grown_by_mapping"]))
    if f["rss_before_faults"]:
        print("RSS just before each fault: "
              + ", ".join(f"{what} at {t / 60:.1f} min {mb:.1f} MB" for t, what, mb in f["rss_before_faults"]))
    print(f"file descriptors {f['fds'][0]} -> {f['fds'][1]} (max {f['fds_max']}), threads {f['threads'][0]} -> "
          f"{f['threads'][1]} (max {f['threads_max']})  (target: flat)")
    ratio = f["p99_ratio"]
    print(f"verdict latency, first {f['window_seconds'] / 60:.0f} min after warm-up: {ms(f['latency_first'])}; last "
          f"{f['window_seconds'] / 60:.0f} min: {ms(f['latency_last'])}; p99 ratio "
          f"{'-' if ratio is None else f'{ratio:.2f}'}  (target <= 1.20)")
    print(f"event stream: {f['stream_events'][0]} and {f['stream_events'][1]} events; /metrics scraped {f['scrapes']} "
          f"times ({f['scrape_failures']} failed); plot {args.out / 'soak.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
