"""The torch side of vision: network, augmentation, fit, ONNX export and int8 calibration.

Only training machines import this package (the ``train`` extra); nothing on the line side
may import it, which ``[tool.importlinter]`` in pyproject.toml enforces.
"""
