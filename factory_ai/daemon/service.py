"""The plant daemon: connectors, writers, live models, scoring and the HTTP API in one process.

Why one process: a line-side PC should run one service that systemd can start, watch and
restart; the parts talk through in-memory queues, and the store is the only shared state.

Threads: one per connector, the reading writer, the result writer, a model thread (reload
checks and forecast scoring), and uvicorn's server. The calling thread runs :meth:`Daemon.run`,
which keeps the readings rate, pings the systemd watchdog and waits for SIGTERM or the
``duration``. Stopping happens in the order that loses nothing: stop accepting (API, then
connectors), drain the queues into the store (or the spool), close the store, all within
``stop_timeout`` (10 s).
"""

from __future__ import annotations

import gc
import logging
import signal
import socket
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from factory_ai import families
from factory_ai.config import Settings
from factory_ai.connectors.base import Connector
from factory_ai.daemon import memory
from factory_ai.daemon.inspector import Inspector
from factory_ai.daemon.metrics import Metrics
from factory_ai.daemon.recent import RecentInspections
from factory_ai.daemon.systemd import Notifier
from factory_ai.distribution import shown
from factory_ai.errors import first_line
from factory_ai.ingest import ReadingWriter
from factory_ai.ingest.results import ResultWriter
from factory_ai.live_model import LiveModel
from factory_ai.registry import Registry
from factory_ai.scheduler.scoring import Scorer
from factory_ai.store.database import Store
from factory_ai.vision.archive import ImageArchive

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a run did, and what the store holds at its end."""

    seconds: float
    readings_accepted: int
    readings_refused: int
    readings_written: int
    readings_spooled: int
    images_judged: int
    forecast_runs: int
    stored: dict[str, Any] = field(default_factory=dict)
    connectors: dict[str, Any] = field(default_factory=dict)
    clean: bool = True

    def lines(self) -> list[str]:
        s = self.stored
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted(s.get("inspections_by_verdict", {}).items())) or "none"
        out = [
            f"ran {self.seconds:.1f} s; stopped {'cleanly' if self.clean else 'with work left (see the log)'}",
            f"readings: {self.readings_accepted} accepted this run ({self.readings_refused} refused, "
            f"{self.readings_spooled} waiting in the spool); the store holds {s.get('readings', '?')} "
            f"from {s.get('sensors', '?')} sensors on {s.get('assets', '?')} assets",
            f"inspections: {self.images_judged} images judged this run; the store holds {verdicts}",
            f"predictions: {self.forecast_runs} scoring runs this run; the store holds {s.get('predictions', '?')}"
            + (f", latest per asset: {s['latest_predictions']}" if s.get("latest_predictions") else ""),
            f"alerts: {s.get('alerts_open', '?')} open of {s.get('alerts', '?')}",
        ]
        for name, state in self.connectors.items():
            out.append(f"connector {name} ({state['kind']}): {state['received']} received, {state['malformed']} "
                       f"malformed, {state['errors']} errors" + (f"; last error: {state['last_error']}"
                                                                  if state["last_error"] else ""))
        return out


class Daemon:
    def __init__(self, settings: Settings, connector_configs: list, *, stop_timeout: float = 10.0) -> None:
        self.settings = settings
        self.stop_timeout = stop_timeout
        daemon = settings.daemon
        self.store = Store(settings.database_url, echo=settings.store.echo)
        spool = settings.resolve(daemon.spool_dir)
        self.writer = ReadingWriter(self.store, spool / "readings", line=daemon.line)
        self.results = ResultWriter(self.store, spool / "results")
        self.metrics = Metrics()
        self.registry = Registry(settings.models_dir)
        self.sync: dict[str, Any] = {"source": settings.models.source and shown(settings.models.source),
                                     "last_error": None, "pulled": {}}
        if settings.models.source:
            self._pull_models()  # before the first load: a new line PC starts with an empty registry
        runtime = settings.runtime
        options = {"device": runtime.device, "threads": runtime.threads}
        # Inspection models: whatever family each card names (a classifier, an anomaly detector).
        self.inspection_models = [
            LiveModel(self.registry, name,
                      lambda path: families.load(path, int8=daemon.inspect_int8, **options))
            for name in settings.inspect.names]
        # Asset scorers: every "score" family's models the config names ([daemon] forecast_model, ...).
        self.scorers = [
            Scorer(family, LiveModel(self.registry, name, lambda path, f=family: f.load(path, **options)), self.store,
                   self.results, lookback_hours=daemon.forecast_lookback_hours,
                   counted=lambda ok: self.metrics.predictions.labels("ok" if ok else "error").inc())
            for family in families.with_role("score") for name in family.models_in_use(settings)]
        self.recent = RecentInspections()
        self.inspector = Inspector(self.inspection_models, self.results, self.metrics,
                                   max_pixels=settings.inspect.max_pixels,
                                   archive=ImageArchive(settings.resolve(daemon.images_dir)), keep=daemon.keep_images,
                                   recent=self.recent, line=daemon.line)
        self.connectors: list[Connector] = [self._connector(c) for c in connector_configs if c.enabled]
        self.scheduler = None
        if settings.scheduler.enabled:
            from factory_ai.scheduler.jobs import JobContext
            from factory_ai.scheduler.service import Scheduler

            ctx = JobContext(settings=settings, store=self.store, registry=self.registry,
                             score=self._score if self.scorers else None,
                             connectors=lambda: {c.name: c.state.as_dict() for c in self.connectors},
                             alert_publishers={c.name: c.publish_alert for c in self.connectors
                                               if getattr(c, "publishes_alerts", False)})
            self.scheduler = Scheduler(ctx, first_run_delay=min(5.0, daemon.forecast_interval_seconds))
        for connector in self.connectors:
            if hasattr(connector, "publish_verdict"):
                self.inspector.publishers.append(connector.publish_verdict)
        self._needs_vision = settings.api.enabled or any(c.kind == "image-folder" for c in self.connectors)
        self.metrics.attach(self)
        self.notifier = Notifier()
        self.readings_rate = 0.0
        self.started_at: float | None = None
        self.stopping = threading.Event()
        self.api_address: tuple[str, int] | None = None
        self._server = None
        self._threads: list[threading.Thread] = []
        self._stopped = False

    @property
    def vision(self) -> LiveModel:
        """The line's first inspection model (the one most lines have)."""
        return self.inspection_models[0]

    @property
    def scorer(self) -> Scorer | None:
        """The first asset scorer, if any (the forecast, on most plants)."""
        return self.scorers[0] if self.scorers else None

    # -- assembly --------------------------------------------------------------------------------
    def _connector(self, config) -> Connector:  # noqa: ANN001
        kind = config.kind
        if kind == "csv-replay":
            from factory_ai.connectors.csv_replay import CsvReplayConnector

            return CsvReplayConnector(config, self.writer)
        if kind == "image-folder":
            from factory_ai.connectors.image_folder import ImageFolderConnector

            return ImageFolderConnector(config, self.inspector.folder_judge)
        if kind == "mqtt":
            from factory_ai.connectors.mqtt import MqttConnector

            return MqttConnector(config, self.writer)
        if kind == "modbus":
            from factory_ai.connectors.modbus import ModbusConnector

            return ModbusConnector(config, self.writer)
        if kind == "opcua":
            from factory_ai.connectors.opcua import OpcUaConnector

            return OpcUaConnector(config, self.writer, reject_verdicts=tuple(self.settings.daemon.reject_verdicts))
        raise ValueError(f"unknown connector kind {kind!r}")

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.started_at = time.monotonic()
        if self._needs_vision:
            for live in self.inspection_models:
                live.check()  # load now: a missing model shows in the log at start, not at the first part
        for scorer in self.scorers:
            scorer.model.check()
        if self.settings.api.enabled:
            self._start_api()
        for connector in self.connectors:
            connector.start()
        self._spawn(self._model_tasks, "model-tasks")
        if self.scheduler is not None:
            self.scheduler.start()
        where = f"http://{self.api_address[0]}:{self.api_address[1]}" if self.api_address else None
        log.info("daemon started: %d connectors%s", len(self.connectors),
                 f", API on {where}/api/v1" + (f", operator console on {where}/" if self.settings.console.enabled
                                               else "") if where else "")

    def run(self, duration: float | None = None, *, handle_signals: bool = True) -> Summary:
        """Start, serve until SIGTERM/SIGINT or ``duration`` seconds, stop; return the summary."""
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, lambda *_: self.stopping.set())
        self.start()
        self.notifier.ready(f"{len(self.connectors)} connectors running")
        deadline = None if duration is None else time.monotonic() + duration
        history: deque[tuple[float, int]] = deque(maxlen=11)
        next_ping = 0.0
        while not self.stopping.is_set():
            now = time.monotonic()
            history.append((now, self.writer.stats.accepted))
            if len(history) > 1:
                (t0, n0), (t1, n1) = history[0], history[-1]
                self.readings_rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
            if self.notifier.watchdog_interval and now >= next_ping and self._alive():
                # No ping while a worker thread is dead: systemd then restarts the daemon.
                self.notifier.watchdog()
                next_ping = now + self.notifier.watchdog_interval
            if deadline is not None and now >= deadline:
                break
            self.stopping.wait(min(1.0, self.notifier.watchdog_interval or 1.0,
                                   max(0.0, deadline - now) if deadline is not None else 1.0))
        return self.stop()

    def stop(self) -> Summary:
        """Stop accepting, drain every queue, close; within ``stop_timeout`` seconds."""
        if self._stopped:
            return self.summary()
        self._stopped = True
        self.stopping.set()
        self.notifier.stopping()
        deadline = time.monotonic() + self.stop_timeout
        log.info("daemon stopping: draining queues")
        if self.scheduler is not None:
            self.scheduler.stop(wait=False)  # running jobs see ctx.stopping; retrains end their child
        if self._server is not None:
            self._server.should_exit = True
        with ThreadPoolExecutor(max_workers=max(1, len(self.connectors))) as pool:
            list(pool.map(lambda c: c.stop(timeout=min(3.0, self.stop_timeout / 3)), self.connectors))
        for thread in self._threads:
            thread.join(max(0.1, min(3.0, deadline - time.monotonic() - 4)))
        left = lambda: max(0.5, deadline - time.monotonic() - 0.5)  # noqa: E731
        self.writer.close(timeout=left() * 0.6)
        self.results.close(timeout=left())
        summary = self.summary()
        summary.clean = self.writer.stats.queue_depth == 0 and self.results.queue_depth == 0
        self.store.close()
        log.info("daemon stopped in %.1f s", self.stop_timeout - (deadline - time.monotonic()))
        return summary

    def _alive(self) -> bool:
        return self.writer.alive and self.results.alive and all(t.is_alive() for t in self._threads)

    def _spawn(self, target, name: str) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _score(self) -> list:
        """One pass of every scorer; a scorer that fails keeps its error for /health and the
        others still run; the first failure is raised afterwards, so the job run records it."""
        done, failure = [], None
        for scorer in self.scorers:
            try:
                done += scorer.score()
            except Exception as exc:  # noqa: BLE001 - re-raised below, after the other scorers
                scorer.last_error = f"{type(exc).__name__}: {exc}"  # /health shows it
                failure = failure or exc
        if failure is not None:
            raise failure
        return done

    def _model_tasks(self) -> None:
        """Reload checks, and forecast scoring when no scheduler does it, in one thread."""
        daemon = self.settings.daemon
        scoring = bool(self.scorers) and self.scheduler is None
        next_check = time.monotonic() + daemon.reload_check_seconds
        next_score = time.monotonic() + min(5.0, daemon.forecast_interval_seconds)
        next_sync = time.monotonic() + self.settings.models.sync_seconds
        next_trim = time.monotonic() + memory.TRIM_SECONDS
        while not self.stopping.is_set():
            now = time.monotonic()
            if self.settings.models.source and now >= next_sync:
                self._pull_models()
                next_sync = now + self.settings.models.sync_seconds
                next_check = now  # load what was pulled at once
            if now >= next_check:
                swapped = [live.check() for live in [*(self.inspection_models if self._needs_vision else []),
                                                     *(s.model for s in self.scorers)]]
                next_check = now + daemon.reload_check_seconds
                if any(swapped):  # the old session is freed: hand its memory back now
                    gc.collect()
                    next_trim = now
            if now >= next_trim:
                memory.trim()
                next_trim = now + memory.TRIM_SECONDS
            if scoring and now >= next_score:
                try:
                    self._score()
                except Exception as exc:  # noqa: BLE001 - a failed pass is retried next interval
                    log.error("scoring failed: %s: %s", type(exc).__name__, exc)
                next_score = now + daemon.forecast_interval_seconds
            self.stopping.wait(max(0.05, min(next_check, next_score if scoring else next_check)
                                   - time.monotonic()))

    def _start_api(self) -> None:
        import uvicorn

        from factory_ai.api.app import create_app

        api = self.settings.api
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only for
        # sockets that say they are TCP, and without it Nagle + delayed ACKs add ~40 ms to
        # responses larger than one segment.
        sock = socket.socket(socket.AF_INET6 if ":" in api.host else socket.AF_INET, socket.SOCK_STREAM,
                             socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((api.host, api.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"the API cannot listen on {api.host}:{api.port}: {exc.strerror} "
                          "(set [api] port, or FACTORY_AI_API__PORT)") from None
        sock.listen(128)
        self.api_address = sock.getsockname()[:2]
        config = uvicorn.Config(create_app(self), log_level="warning", access_log=False, timeout_graceful_shutdown=3,
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # signals belong to run()
        self._spawn(lambda: self._server.run(sockets=[sock]), "api")
        deadline = time.monotonic() + 10
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    def _pull_models(self) -> None:
        """Bring the models this daemon uses up to the central registry's current versions. A
        source that is away, or a version whose files fail their sha256, costs a log line and
        the health report's note; the line keeps serving what it has."""
        from factory_ai.distribution import pull, source_for
        from factory_ai.errors import ModelError

        names = list(dict.fromkeys([*self.settings.inspect.names,
                                    *(n for f in families.with_role("score") for n in f.models_in_use(self.settings))]))
        source = source_for(self.settings.models.source)
        errors = []
        for name in names:
            try:
                done = pull(source, self.registry, name)
                self.sync["pulled"][name] = done.version
            except (ModelError, OSError) as exc:
                errors.append(f"{name}: {exc}")
                log.warning("could not pull model %s from %s: %s", name, source.where, exc)
        self.sync["last_error"] = "; ".join(errors) or None

    # -- what the HTTP surface uses (factory_ai.api.plant.Plant) --------------------------------
    def metrics_text(self) -> bytes:
        return self.metrics.text()

    def inspect(self, data: bytes, source: str, line: str | None, *, via: str) -> dict[str, Any]:
        return self.inspector.inspect(data, source, line, via=via)

    def flush_results(self, timeout: float) -> None:
        self.results.flush(timeout=timeout)

    # -- reporting -------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        stats = self.writer.stats
        connectors = {c.name: c.state.as_dict() for c in self.connectors}
        # Keyed by the role each model plays here: "vision" for the (first) inspection model and
        # "inspection" for all of them, then each scorer by its family's id.
        inspection = [live.describe() for live in self.inspection_models]
        models: dict[str, Any] = {"vision": inspection[0], "inspection": inspection}
        for scorer in self.scorers:
            models[scorer.family.id] = {**scorer.model.describe(), "runs": scorer.runs,
                                        "last_error": scorer.last_error}
        scheduler = self._scheduler_health()
        # The writers notice a lost database on their next write; the scheduler's read of its
        # job store notices it now, even when no data is flowing.
        jobs = scheduler.get("jobs")
        unreadable = jobs.get("error") if isinstance(jobs, dict) else None
        database_up = stats.db_up and self.results.db_up and unreadable is None
        healthy = database_up and all(c.state.up or c.state.detail.get("finished") for c in self.connectors)
        return {
            "status": "ok" if healthy else "degraded",
            "uptime_seconds": round(time.monotonic() - (self.started_at or time.monotonic()), 3),
            "database": {"up": database_up, "where": self.store.where,
                         "last_error": stats.last_error or unreadable},
            "ingest": {"accepted": stats.accepted, "refused": stats.rejected, "written": stats.written,
                       "duplicates": stats.duplicates, "queue_depth": stats.queue_depth,
                       "spooled": stats.spooled_rows, "per_second": round(self.readings_rate, 1)},
            "connectors": connectors,
            "models": {**models, **({"sync": self.sync} if self.sync["source"] else {})},
            "scheduler": scheduler,
        }

    def _scheduler_health(self) -> dict[str, Any]:
        if self.scheduler is None:
            return {"running": False}
        from factory_ai.scheduler import runs

        # Both read the database (APScheduler keeps its job store there too). While it is away
        # /health must still answer, with the reason: that is when an operator looks at it.
        try:
            jobs: Any = [{**j, "next_run": j["next_run"] and j["next_run"].isoformat()} for j in self.scheduler.jobs()]
        except Exception as exc:  # noqa: BLE001 - any driver error: the report says it instead
            jobs = {"error": first_line(exc)}
        try:
            last = {name: {"status": r.status, "started_at": r.started_at.isoformat(), "error": r.error}
                    for name, r in runs.latest(self.store).items()}
        except Exception as exc:  # noqa: BLE001
            last = {"error": first_line(exc)}
        return {"running": True, "jobs": jobs, "last_runs": last}

    def summary(self) -> Summary:
        stats = self.writer.stats
        try:
            stored = store_counts(self.store)
        except Exception as exc:  # noqa: BLE001 - the database may be the reason we stop
            stored = {"error": str(exc)}
        return Summary(
            seconds=time.monotonic() - (self.started_at or time.monotonic()), readings_accepted=stats.accepted,
            readings_refused=stats.rejected, readings_written=stats.written, readings_spooled=stats.spooled_rows,
            images_judged=self.inspector.judged, forecast_runs=sum(s.runs for s in self.scorers),
            stored=stored, connectors={c.name: c.state.as_dict() for c in self.connectors})


def store_counts(store: Store) -> dict[str, Any]:
    """Row counts that say what the plant's store holds."""
    from sqlalchemy import func
    from sqlmodel import select

    from factory_ai.store.assets import keys_by_id
    from factory_ai.store.tables import Alert, Asset, Inspection, Prediction, Reading, Sensor

    with store.session() as session:
        count = lambda table: session.exec(select(func.count()).select_from(table)).one()  # noqa: E731
        verdicts = dict(session.exec(select(Inspection.verdict, func.count()).group_by(Inspection.verdict)).all())
        rows = session.exec(select(Prediction.asset_id, Prediction.rul, Prediction.risk)
                            .order_by(Prediction.id.desc()).limit(200)).all()
        keys = keys_by_id(session, {asset_id for asset_id, _, _ in rows})
        latest = [(keys[asset_id], rul, risk) for asset_id, rul, risk in rows]
        per_asset: dict[str, str] = {}
        for name, rul, risk in latest:
            if name not in per_asset and rul is not None:
                per_asset[name] = f"{name} RUL {rul:.0f}" + (f" risk {risk:.0%}" if risk is not None else "")
        return {
            "assets": count(Asset), "sensors": count(Sensor), "readings": count(Reading),
            "inspections": count(Inspection), "inspections_by_verdict": verdicts, "predictions": count(Prediction),
            "alerts": count(Alert),
            "alerts_open": session.exec(select(func.count()).select_from(Alert).where(Alert.status == "open")).one(),
            "latest_predictions": ", ".join(sorted(per_asset.values())[:6]) + (" ..." if len(per_asset) > 6 else ""),
        }


def load_connectors(settings: Settings, paths: list[Path] | None = None) -> list:
    """Connector configs from ``paths`` (files or folders), else the config's list or folder."""
    from factory_ai.connectors.config import load_files
    from factory_ai.errors import ConfigError

    chosen = list(paths or []) or [settings.resolve(p) for p in settings.daemon.connectors]
    if not chosen:
        folder = settings.resolve(settings.daemon.connectors_dir)
        if not folder.is_dir():
            log.warning("no connector folder %s: the daemon runs with no connectors", folder)
            return []
        chosen = [folder]
    files: list[Path] = []
    for path in map(Path, chosen):
        if path.is_dir():
            files.extend(sorted(path.glob("*.toml")))
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: connector file or folder not found")
    return load_files(files)
