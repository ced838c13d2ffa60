"""Packets from a live interface, batched like file packets (needs the `[live]` extra: scapy, and root).

scapy's Linux PF_PACKET listener gives what a raw socket alone does not: BPF filters compiled by
libpcap, kernel timestamps, and the VLAN tags the kernel strips put back into the frames.
"""

from __future__ import annotations

import select
import struct
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from netdetect.capture import linktypes
from netdetect.capture.reader import CapturedBatch, Interface, ReadStats, ns_to_seconds
from netdetect.errors import CaptureError

SOL_PACKET = 263
PACKET_STATISTICS = 6
DLT_RAW_LINUX = 12  # libpcap's DLT_RAW on Linux, written to files as LINKTYPE_RAW (101)


class LiveSource:
    """Capture on `interface`; `batches()` yields a batch every `batch_packets` packets or `batch_seconds`."""

    def __init__(
        self,
        interface: str,
        bpf: str | None = None,
        *,
        batch_packets: int = 4096,
        batch_seconds: float = 1.0,
        snaplen: int = 65535,
        promisc: bool = False,
    ) -> None:
        self.name = interface
        self.bpf = bpf
        self.batch_packets = max(1, batch_packets)
        self.batch_seconds = batch_seconds
        self.snaplen = snaplen
        self.stats = ReadStats()
        self._socket = self._open(interface, bpf, promisc)
        self.linktype = self._linktype()
        self.stats.interfaces.append(
            Interface(linktype=self.linktype, snaplen=snaplen, name=interface, ts_resolution="1e-9")
        )
        self._stopped = False

    @staticmethod
    def _open(interface: str, bpf: str | None, promisc: bool) -> Any:
        try:
            from scapy.arch.linux import L2ListenSocket
        except ImportError as exc:
            raise CaptureError(
                f"live capture needs scapy (pip install 'netdetect[live]'): {exc}", path=interface
            ) from None
        try:
            return L2ListenSocket(iface=interface, filter=bpf, promisc=promisc)
        except PermissionError:
            raise CaptureError("live capture needs root or CAP_NET_RAW", path=interface) from None
        except OSError as exc:
            raise CaptureError(f"cannot capture: {exc.strerror or exc}", path=interface) from None
        except Exception as exc:  # scapy raises its own exception types for bad filters
            raise CaptureError(f"cannot capture: {exc}", path=interface) from None

    def _linktype(self) -> int:
        from scapy.data import ARPHRD_TO_DLT

        hardware_type = self._socket.ins.getsockname()[3]
        dlt = ARPHRD_TO_DLT.get(hardware_type, linktypes.ETHERNET)
        return linktypes.RAW if dlt == DLT_RAW_LINUX else dlt

    def stop(self) -> None:
        """Make `batches()` return after the batch in progress (callable from another thread)."""
        self._stopped = True

    def batches(
        self, max_packets: int | None = None, *, duration: float | None = None
    ) -> Iterator[CapturedBatch]:
        """Yield batches until stop(), close() or `duration` seconds have passed."""
        limit = max_packets or self.batch_packets
        deadline = None if duration is None else time.monotonic() + duration
        frame = 0
        while not self._stopped:
            batch = self._collect(limit, deadline, frame)
            if batch is not None:
                frame += len(batch)
                yield batch
            if deadline is not None and time.monotonic() >= deadline:
                break
        self._update_drops()

    def _collect(self, limit: int, deadline: float | None, frame: int) -> CapturedBatch | None:
        buffer = bytearray()
        offsets: list[int] = []
        lengths: list[int] = []
        stamps: list[int] = []
        flush_at = time.monotonic() + self.batch_seconds
        if deadline is not None:
            flush_at = min(flush_at, deadline)
        sock = self._socket
        while len(offsets) < limit and not self._stopped:
            wait = flush_at - time.monotonic()
            if wait <= 0:
                break
            try:
                ready, _, _ = select.select([sock.ins], [], [], wait)
            except (OSError, ValueError):  # closed from another thread
                break
            if not ready:
                break
            try:
                _cls, data, ts = sock.recv_raw(self.snaplen)
            except OSError as exc:
                self.stats.warn(f"receive failed: {exc}")
                continue
            if data is None:
                continue
            offsets.append(len(buffer))
            lengths.append(len(data))
            stamps.append(round((ts if ts is not None else time.time()) * 1e9))
            buffer += data
        if not offsets:
            return None
        self.stats.packets += len(offsets)
        self.stats.bytes_read += len(buffer)
        ts_ns = np.array(stamps, dtype=np.int64)
        caplen = np.array(lengths, dtype=np.int64)
        return CapturedBatch(
            data=np.frombuffer(bytes(buffer), dtype=np.uint8),
            offset=np.array(offsets, dtype=np.int64),
            caplen=caplen,
            wirelen=caplen.copy(),  # PF_PACKET hands whole frames up to snaplen; longer ones are rare
            ts=ns_to_seconds(ts_ns),
            linktype=np.full(len(offsets), self.linktype, dtype=np.uint16),
            source=self.name,
            first_index=frame,
            ts_ns=ts_ns,
        )

    def _update_drops(self) -> None:
        """Kernel drop counters (reading them resets them)."""
        try:
            raw = self._socket.ins.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
            _seen, drops = struct.unpack("II", raw)
        except (OSError, AttributeError, struct.error):
            return
        if drops:
            self.stats.dropped += drops
            self.stats.warn(f"kernel dropped {drops} packets (capture too slow)")

    def close(self) -> None:
        self._stopped = True
        self._update_drops()
        self._socket.close()

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
