"""IP fragment reassembly for the datagrams that matter (DNS, QUIC), bounded against floods."""

from __future__ import annotations

from collections import OrderedDict

MAX_DATAGRAM = 65535
MAX_PENDING = 4096
TIMEOUT_S = 30.0


class FragmentReassembler:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.pending: OrderedDict[tuple, tuple[float, dict[int, bytes], int | None]] = OrderedDict()
        self.max_pending = max_pending
        self._dropped = 0

    def add(self, key: tuple, offset: int, more: bool, data: bytes, ts: float) -> bytes | None:
        """Add one fragment; returns the whole IP payload once every byte up to the last fragment is here."""
        first_ts, parts, total = self.pending.pop(key, (ts, {}, None))
        if ts - first_ts > TIMEOUT_S:
            self._dropped += 1
            first_ts, parts, total = ts, {}, None
        if offset + len(data) > MAX_DATAGRAM:
            self._dropped += 1
            return None
        parts.setdefault(offset, data)
        if not more:
            total = offset + len(data)
        if total is not None:
            buf = bytearray()
            for off in sorted(parts):
                if off > len(buf):
                    break
                buf += parts[off][len(buf) - off :]
            if len(buf) >= total:
                return bytes(buf[:total])
        self.pending[key] = (first_ts, parts, total)
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
            self._dropped += 1
        return None

    def take_dropped(self) -> int:
        n, self._dropped = self._dropped, 0
        return n
