"""The good-only anomaly detector: a model of the good part that flags whatever departs from it.

Line side: ``detector`` (load and judge with onnxruntime), ``metrics`` (AUROC, rates, PRO,
plots), ``family`` (the family contract), ``retrain`` (champion and challenger). Torch side:
``train`` (synthetic flaws, the network, fitting, export), reached only through
``factory-ai train anomaly``.
"""
