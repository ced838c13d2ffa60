"""Detector accuracy per shape: netdetect (default threshold 0.5) beside RITA v5's corresponding rule.

    python benchmarks/detector_accuracy.py [--seed 7] [--scale 1.0] [--shape NAME ...] [--keep DIR] [--misses]

Generates the labeled captures of `netdetect.testing.shapes` (each detector's shape and the benign
look-alikes), scans each as `netdetect scan` does and prints, per shape: positives, netdetect's recall
by the expected detector and by any detector, its false positives (findings on look-alikes and
background hosts) and findings by another detector on a labeled channel, then RITA's recall and false
positives with the rule for that detector (see netdetect/testing/accuracy.py for the rules).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netdetect.testing.accuracy import ShapeResult, run_benchmark  # noqa: E402
from netdetect.testing.shapes import SHAPES  # noqa: E402


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(results: dict[str, ShapeResult]) -> str:
    head = (
        f"{'shape':<22}{'expected':<17}{'pos':>4}{'recall':>8}{'any':>6}{'FP':>5}{'other':>7}"
        f"  {'RITA rule':<16}{'recall':>7}{'FP':>5}{'packets':>9}{'s':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in results.values():
        lines.append(
            f"{r.shape:<22}{r.expected:<17}{r.positives:>4}{_rate(r.recall):>8}{_rate(r.recall_any):>6}"
            f"{r.false_positives:>5}{r.other_detector:>7}  {r.rita_rule or '-':<16}{_rate(r.rita_recall):>7}"
            f"{r.rita_false_positives:>5}{r.packets:>9}{r.seconds:>6.1f}"
        )
    positives = sum(r.positives for r in results.values())
    if positives:
        found = sum(r.found for r in results.values())
        rita = sum(r.rita_found for r in results.values())
        lines.append("-" * len(head))
        lines.append(
            f"{'all shapes':<39}{positives:>4}{found / positives:>8.2f}"
            f"{sum(r.found_any for r in results.values()) / positives:>6.2f}"
            f"{sum(r.false_positives for r in results.values()):>5}"
            f"{sum(r.other_detector for r in results.values()):>7}  {'':<16}{rita / positives:>7.2f}"
            f"{sum(r.rita_false_positives for r in results.values()):>5}"
        )
    return "\n".join(lines)


def details(results: dict[str, ShapeResult]) -> str:
    lines = []
    for r in results.values():
        for label in r.missed:
            lines.append(
                f"missed  {r.shape:<22}{label.client:<16} {label.server} (expected {label.expected})"
            )
        for flag in r.false_positive_flags:
            server = flag.server_name or ",".join(flag.addresses)
            lines.append(
                f"FP      {r.shape:<22}{flag.client or '-':<16} {server} {flag.detector} {flag.score:.2f}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="counts and durations (0.2: a quick run)")
    parser.add_argument("--shape", action="append", choices=list(SHAPES), help="only these shapes")
    parser.add_argument("--keep", type=Path, help="write the captures here and keep them")
    parser.add_argument("--misses", action="store_true", help="list missed positives and false positives")
    args = parser.parse_args()

    started = time.perf_counter()
    results = run_benchmark(args.seed, args.scale, shapes=args.shape, directory=args.keep)
    print(f"seed {args.seed}, scale {args.scale}: netdetect at score >= 0.5 beside RITA v5's rules")
    print(table(results))
    if args.misses:
        print()
        print(details(results))
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
