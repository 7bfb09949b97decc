"""Wearable devices: observation model, GATT codecs, device catalog and virtual wearables."""

from devices.errors import DecodeError, DeviceError, UnknownMetricError
from devices.model import METRICS, Metric, Observation, Quality, Specimen, WaveformSegment, metric

__all__ = [
    "METRICS",
    "DecodeError",
    "DeviceError",
    "Metric",
    "Observation",
    "Quality",
    "Specimen",
    "UnknownMetricError",
    "WaveformSegment",
    "metric",
]
