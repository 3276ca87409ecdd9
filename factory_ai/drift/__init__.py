"""Drift: how far live data has moved from what a model was trained on.

``factory_ai.reference`` summarises training data into the model card (each family's training
side, numpy only); ``stats`` compares a live sample with that summary (PSI, KS); ``check`` is the scheduled job
that compares the store's recent data with the current models' references and raises alerts.
"""
