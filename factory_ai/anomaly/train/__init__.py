"""Training the anomaly detector (torch side; the ``train`` extra)."""
