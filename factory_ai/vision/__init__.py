"""Defect inspection of product images.

Line side (onnxruntime only): ``images`` (safe decoding), ``classifier`` (load + predict),
``inspect`` (batches of files), ``heatmap`` (overlays), ``folders`` (labelled folders and
splits), ``metrics``. Torch side: ``vision.train`` (network, augmentation, fit, export, int8).
"""
