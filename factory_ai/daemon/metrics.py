"""Prometheus metrics for the daemon, in a registry of its own.

Why a custom collector for most of them: the numbers already live in the writer's stats and
the connectors' states; reading them at scrape time keeps one source of truth instead of
two sets of counters that can disagree. Only what happens per event (an inspection, its
latency) is counted here as it happens.
"""

from __future__ import annotations

from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from factory_ai.daemon import memory


class Source(Protocol):
    """What the collector reads at scrape time (the daemon is one)."""

    writer: Any  # the reading writer, with its stats
    results: Any  # the result writer
    connectors: list[Any]
    readings_rate: float

# Inference on a line-side CPU takes milliseconds; the buckets resolve 1 ms to 1 s.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.inspections = Counter("factory_ai_inspections", "Images judged, by verdict.", ["verdict"],
                                   registry=self.registry)
        self.inference = Histogram("factory_ai_inference_seconds", "Model time per image (decode and inference).",
                                   buckets=LATENCY_BUCKETS, registry=self.registry)
        self.inspection = Histogram("factory_ai_inspection_seconds",
                                    "Image received to verdict published, inside the daemon.",
                                    ["source"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.predictions = Counter("factory_ai_predictions", "Asset forecasts made.", ["outcome"],
                                   registry=self.registry)

    def attach(self, daemon: Source) -> None:
        self.registry.register(_DaemonCollector(daemon))

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _DaemonCollector:
    def __init__(self, daemon: Source) -> None:
        self.daemon = daemon

    def describe(self) -> list:
        return []

    def collect(self):  # noqa: ANN201
        daemon = self.daemon
        stats = daemon.writer.stats
        yield CounterMetricFamily("factory_ai_readings_accepted", "Readings accepted into the queue.",
                                  value=stats.accepted)
        yield CounterMetricFamily("factory_ai_readings_rejected", "Readings refused (NaN, no time zone...).",
                                  value=stats.rejected)
        yield CounterMetricFamily("factory_ai_readings_written", "Readings inserted into the store.",
                                  value=stats.written)
        yield GaugeMetricFamily("factory_ai_readings_per_second", "Readings accepted per second (last 10 s).",
                                value=daemon.readings_rate)
        yield GaugeMetricFamily("factory_ai_queue_depth", "Readings waiting to be written.", value=stats.queue_depth)
        yield GaugeMetricFamily("factory_ai_spooled_readings", "Readings on disk waiting for the database.",
                                value=stats.spooled_rows)
        yield GaugeMetricFamily("factory_ai_result_queue_depth", "Inspections and predictions waiting to be written.",
                                value=daemon.results.queue_depth)
        yield GaugeMetricFamily("factory_ai_database_up", "1 while the store accepts writes.",
                                value=1.0 if stats.db_up and daemon.results.db_up else 0.0)
        up = GaugeMetricFamily("factory_ai_connector_up", "1 while a connector is connected.",
                               labels=["connector", "kind"])
        received = CounterMetricFamily("factory_ai_connector_received", "Readings or images a connector took in.",
                                       labels=["connector", "kind"])
        malformed = CounterMetricFamily("factory_ai_connector_malformed",
                                        "Payloads, registers or images a connector could not use.",
                                        labels=["connector", "kind"])
        for connector in daemon.connectors:
            labels = [connector.name, connector.kind]
            up.add_metric(labels, 1.0 if connector.state.up else 0.0)
            received.add_metric(labels, connector.state.received)
            malformed.add_metric(labels, connector.state.malformed)
        yield up
        yield received
        yield malformed
        if (figures := memory.heap()) is not None:
            heap = GaugeMetricFamily("factory_ai_memory_bytes", "The daemon's memory by kind: malloc_in_use (live), "
                                     "malloc_free (freed, held by malloc), sqlite (SQLite's caches, within in use).",
                                     labels=["kind"])
            for kind, value in figures.items():
                heap.add_metric([kind], float(value))
            yield heap
