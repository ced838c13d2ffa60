"""Detectors over the connection and event tables; see `netdetect.detectors.base` for the interface."""

from netdetect.detectors.base import DETECTORS, Detections, Detector, Subjects, register

__all__ = ["DETECTORS", "Detections", "Detector", "Subjects", "register"]
