"""The scheduler: scoring, alerts, drift checks and retraining on cron or interval triggers.

``service.Scheduler`` runs the jobs of ``jobs.JOBS``; ``runs`` keeps their history. This
package's ``__init__`` imports nothing, so ``factory_ai.config`` can read its settings class.
"""
