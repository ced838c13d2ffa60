"""Findings from detections: building, intel evidence, ranking."""
