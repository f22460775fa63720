"""Reference clients for phones.

``client.ArtsnapClient`` speaks the HTTP API (model updates, photo and vector search);
``on_device.OnDeviceModel`` runs the exported ``.tflite`` exactly as an Android app would
(LiteRT interpreter, preprocessing read from the model card). The Swift (iOS, Core ML) and
Kotlin (Android, TFLite) clients in ``swift/`` and ``kotlin/`` follow the same steps.
"""

from .client import ArtsnapClient, ArtsnapError, DownloadedModel
from .on_device import OnDeviceModel, OnDeviceResult

__all__ = ["ArtsnapClient", "ArtsnapError", "DownloadedModel", "OnDeviceModel", "OnDeviceResult"]
