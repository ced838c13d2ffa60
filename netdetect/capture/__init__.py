"""Capture sources: files (pcap, pcapng, compressed, rotated sets, stdin) and live interfaces.

Sources yield `PacketBatch`es: many packets' record headers as numpy arrays over one buffer,
so that decoding can touch most packets only in bulk.
"""

from netdetect.capture.batch import PacketBatch
from netdetect.capture.files import open_capture
from netdetect.capture.inputs import expand_inputs, first_timestamp, iter_batches
from netdetect.capture.reader import CapturedBatch, CaptureFile, Interface, ReadStats

__all__ = [
    "CaptureFile",
    "CapturedBatch",
    "Interface",
    "PacketBatch",
    "ReadStats",
    "expand_inputs",
    "first_timestamp",
    "iter_batches",
    "open_capture",
]
