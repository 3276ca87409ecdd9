"""factory-ai: quality control and predictive maintenance beside the production line.

Data flows one way: connectors -> store -> models -> alerts and reports. The line side
(this package without its ``*.train`` modules) runs on onnxruntime and never imports torch.
"""

import os as _os

# onnxruntime (1.29 on) collects usage telemetry on Linux too: importing it writes a device id
# and an event database under ~/.cache/Microsoft and queues uploads to Microsoft. A plant's
# line-side machine must not phone out, and many have no route to do so. The switch is read
# once, when onnxruntime is first imported: every factory-ai command imports this package
# first (the systemd unit and the images set it as well, for anything else that imports
# onnxruntime). An operator who wants telemetry sets the variable themselves.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
