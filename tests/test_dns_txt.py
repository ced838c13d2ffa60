"""TXT and SPF answers are kept whole (not cut at 256 bytes) by the Python and the compiled DNS walks alike:
DNS tunnel detectors measure what the answers carry."""

from __future__ import annotations

import pytest
from _packets import batch_of

from netdetect import native
from netdetect.decode import fastpath
from netdetect.decode.extract import EventExtractor
from netdetect.decode.headers import decode_headers
from netdetect.testing import synth

compiled_events = native.built("netdetect.decode._events")
needs_events = pytest.mark.skipif(
    compiled_events is None, reason="compiled core not built (or NETDETECT_NATIVE=0)"
)


def _udp(src: str, dst: str, sport: int, dport: int, payload: bytes) -> bytes:
    l4 = synth.udp(synth.packed_ip(src), synth.packed_ip(dst), sport, dport, payload)
    mac = b"\x02\x00\x00\x00\x00\x01"
    return synth.ethernet(mac, mac, 0x0800, synth.ip_packet(src, dst, 17, l4))


_PIECES = [bytes((i * 7 + j) % 256 for j in range(250)) for i in range(4)]  # binary and printable bytes
_LONG_TXT = b"".join(bytes([len(p)]) + p for p in _PIECES)  # 1,004 bytes of rdata in 4 character-strings


def _txt_response() -> bytes:
    return synth.dns_response("t.example", "TXT", [synth.DnsRecord("t.example", "TXT", _LONG_TXT)], txid=9)


def _txt_text(piece: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x5C else f"\\x{b:02x}" for b in piece)


def test_a_long_txt_answer_is_kept_whole_by_the_python_decoder() -> None:
    parsed = fastpath.dns_parsed(_txt_response())
    assert not isinstance(parsed, str)
    (answer,) = parsed.answers
    assert answer.value == " ".join(_txt_text(p) for p in _PIECES)
    assert len(answer.value) > 1000


@needs_events
def test_a_long_txt_answer_is_the_same_on_both_paths() -> None:
    payload = _txt_response()
    assert fastpath.dns_parsed_native(payload) == fastpath.dns_parsed(payload)
    batch = batch_of([(1.0, _udp("10.0.0.53", "10.0.0.1", 53, 40000, payload))])
    with native.reference_path():
        python = EventExtractor()
    compiled = EventExtractor()
    assert compiled.native is not None and python.native is None
    for ex in (python, compiled):
        ex.process(batch, decode_headers(batch))
    assert compiled.out.dns.answers.tobytes() == python.out.dns.answers.tobytes()
    assert list(compiled.out.pool.ids) == list(python.out.pool.ids)
    (event,) = compiled.out.dns
    assert event.answers[0].value == " ".join(_txt_text(p) for p in _PIECES)


def test_a_txt_whose_strings_overrun_the_rdata_is_bad() -> None:
    cut = _LONG_TXT[:-1]  # the last character-string claims one byte more than there is
    payload = synth.dns_response("t.example", "TXT", [synth.DnsRecord("t.example", "TXT", cut)], txid=9)
    parsed = fastpath.dns_parsed(payload)
    assert not isinstance(parsed, str) and parsed.answers == ()
    if compiled_events is not None:
        assert fastpath.dns_parsed_native(payload) == parsed
