"""Training side of the forecast (needs the ``train`` extra): the temporal network, the
gradient-boosting baseline, their ONNX export and the ``train forecast`` pipeline."""
