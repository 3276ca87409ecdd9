"""The plant daemon behind ``factory-ai run``: connectors in, verdicts and forecasts out.

- :mod:`~factory_ai.daemon.service` assembles and runs everything (:class:`Daemon`).
- :mod:`~factory_ai.daemon.inspector` judges images and publishes verdicts.
- :mod:`~factory_ai.scheduler.scoring` scores every asset on an interval (the forecast, through its family).
- :mod:`~factory_ai.live_model` follows the registry's current version (hot reload).
- :mod:`~factory_ai.daemon.metrics` and :mod:`~factory_ai.daemon.systemd` report to Prometheus and systemd.
"""
