"""Several captures in one scan give what each gives alone: a beacon's evidence is measured on the
time its own capture covers, not on the wall-clock span of every input (issue #11)."""

from __future__ import annotations

import json
from pathlib import Path

from netdetect.analysis import AnalysisOptions, analyze
from netdetect.pipeline import extract_files
from netdetect.tables.extraction import Extraction
from netdetect.testing.shapes import write_shape

DEMO = Path(__file__).resolve().parents[1] / "pcaps" / "demo-office.pcap"
# Fields that depend on the other inputs by design: rank (the other capture's findings interleave),
# how many clients of the whole scan use a destination.
CONTEXTUAL = {"rank", "prevalence", "dst_first_seen"}


def _records(ex: Extraction) -> dict[str, dict]:
    from netdetect.output.records import finding_record

    report = analyze(ex, options=AnalysisOptions(min_score=0.0))
    out = {}
    for rank, f in enumerate(report.findings, start=1):
        record = finding_record(f, rank)
        out[record["id"]] = {k: v for k, v in record.items() if k not in CONTEXTUAL}
    return out


def test_a_short_incident_capture_scanned_with_another_months_capture(tmp_path: Path) -> None:
    short = write_shape("few_check_ins", tmp_path, seed=3, scale=0.4)
    incident = [str(short.scans[0][0])]
    demo = extract_files([str(DEMO)])
    alone_short = _records(extract_files(incident))
    alone_demo = _records(demo)
    together = _records(Extraction.merge([demo, extract_files(incident)]))
    assert abs(demo.first_ts - extract_files(incident).first_ts) > 20 * 86_400  # another month
    # Every finding of each capture alone is in the joint scan, field for field.
    for alone in (alone_short, alone_demo):
        for key, record in alone.items():
            assert together.get(key) == record, json.dumps(record)[:300]
    assert len(together) == len(alone_short) + len(alone_demo)
    beacons = [r for r in alone_short.values() if r["beacon"]]
    assert beacons, "the 3-5 check-ins of the incident capture are a beacon"
