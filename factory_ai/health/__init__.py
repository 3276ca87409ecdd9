"""Machine health from normal operation alone: a model of each machine's normal behaviour that
says, from day one, how far it is from normal and which sensors moved.

Line side here (onnxruntime, numpy); fitting and export in ``health.train`` (torch)."""
