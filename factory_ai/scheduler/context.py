"""The job context for the stand-alone scheduler and for ``factory-ai jobs run``.

Inside the daemon, jobs use the daemon's live model and writers; outside it (a central server
running ``factory-ai scheduler``, or a person running one job by hand) this builds the same
parts on their own: the registry, the store, and a scorer that follows the registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from factory_ai.config import Settings
from factory_ai.registry import Registry
from factory_ai.scheduler.jobs import JobContext
from factory_ai.store.database import Store


@contextmanager
def standalone(settings: Settings) -> Iterator[JobContext]:
    store = Store(settings.database_url, echo=settings.store.echo)
    registry = Registry(settings.models_dir)
    results = None
    ctx = JobContext(settings=settings, store=store, registry=registry)
    try:
        if settings.daemon.forecast_model:
            from factory_ai.daemon.live_model import LiveModel
            from factory_ai.daemon.metrics import Metrics
            from factory_ai.daemon.scoring import Scorer
            from factory_ai.forecast.model import ForecastModel
            from factory_ai.ingest.results import ResultWriter

            runtime = settings.runtime
            live = LiveModel(registry, settings.daemon.forecast_model,
                             lambda path: ForecastModel.load(path, device=runtime.device, threads=runtime.threads))
            results = ResultWriter(store, settings.resolve(settings.daemon.spool_dir) / "results-scheduler")
            scorer = Scorer(live, store, results, Metrics(), lookback_hours=settings.daemon.forecast_lookback_hours)

            def score() -> list:
                live.check()
                return scorer.score()

            ctx.score = score
        yield ctx
    finally:
        ctx.stopping.set()
        if results is not None:
            results.close(timeout=10)
        store.close()
