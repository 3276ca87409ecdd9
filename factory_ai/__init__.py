"""factory-ai: quality control and predictive maintenance beside the production line.

Data flows one way: connectors -> store -> models -> alerts and reports. The line side
(this package without its ``*.train`` modules) runs on onnxruntime and never imports torch.
"""

__version__ = "0.1.0"
