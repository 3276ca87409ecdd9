"""The job context for the stand-alone scheduler and for ``factory-ai jobs run``.

Inside the daemon, jobs use the daemon's live models and writers; outside it (a central server
running ``factory-ai scheduler``, or a person running one job by hand) this builds the same
parts on their own: the registry, the store, and a scorer per "score" family's model in use,
each following the registry.
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
        from factory_ai import families
        from factory_ai.ingest.results import ResultWriter
        from factory_ai.live_model import LiveModel
        from factory_ai.scheduler.scoring import Scorer

        runtime = settings.runtime
        scorers = [Scorer(family, LiveModel(registry, name, lambda path, f=family: f.load(
                       path, device=runtime.device, threads=runtime.threads)), store, None,
                       lookback_hours=settings.daemon.forecast_lookback_hours)
                   for family in families.with_role("score") for name in family.models_in_use(settings)]
        if scorers:
            results = ResultWriter(store, settings.resolve(settings.daemon.spool_dir) / "results-scheduler")
            for scorer in scorers:
                scorer.results = results

            def score() -> list:
                done = []
                for scorer in scorers:
                    scorer.model.check()
                    done += scorer.score()
                return done

            ctx.score = score
        yield ctx
    finally:
        ctx.stopping.set()
        if results is not None:
            results.close(timeout=10)
        store.close()
