"""Champion/challenger retraining, run by the scheduler's retrain jobs.

One retrain: check there is enough new training data, export it from the store, train a
challenger (a child process here, or a command on a GPU server), judge champion and challenger
on the same frozen holdout with onnxruntime, and promote the challenger only if it passed its
parity check and wins by the configured margin. Otherwise the champion stays, and the reason is
written to the job history and the registry's history. Line-side daemons follow the registry's
CURRENT pointer, so a promotion reaches them without a restart.

``run.retrain`` is the entry point; each family's ``retrain`` module (``vision.retrain``,
``forecast.retrain``, ``anomaly.retrain``) holds its data and judgement and gets the shared
mechanics as a ``run.Kit``; ``trainer`` runs the training. This ``__init__`` imports nothing, so
``factory_ai.config`` can read the settings class from ``config``.
"""
