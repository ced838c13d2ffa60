"""A batch of captured packets: record headers as numpy columns over one byte buffer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class PacketBatch:
    data: np.ndarray  # uint8: the bytes that hold every packet of the batch
    offset: np.ndarray  # int64: where each packet starts in `data`
    caplen: np.ndarray  # int64: bytes captured
    wirelen: np.ndarray  # int64: bytes on the wire (original length)
    ts: np.ndarray  # float64: epoch seconds
    linktype: np.ndarray  # uint16: LINKTYPE_* of each packet's interface
    source: str = ""  # capture file (or interface) name
    first_index: int = 0  # frame number - 1 of the first packet within its source

    def __len__(self) -> int:
        return len(self.offset)

    def packet(self, i: int) -> bytes:
        start = int(self.offset[i])
        return self.data[start : start + int(self.caplen[i])].tobytes()
