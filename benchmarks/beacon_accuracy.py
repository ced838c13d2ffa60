"""Beacon accuracy: netdetect's default verdict vs RITA v5's formula on a seeded, labeled corpus.

    python benchmarks/beacon_accuracy.py [--seed 7] [--beacons 50] [--ordinary 100] [--per-kind 40] [--misses]

Prints recall, false-positive rate, precision and ROC AUC side by side, recall by jitter level and by
kind of check-in, false positives by kind of ordinary traffic and how often the estimated period is
within 10%: first for the main corpus (windows 1 h .. 7 days), then for the robustness shapes (few
check-ins in short captures, uniform 0..X s sleeps, constant-size look-alikes; windows 5 min .. 1 day).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from netdetect.testing.evaluate import CorpusResult, Verdicts, evaluate
from netdetect.testing.series import SyntheticSet, labeled_corpus, robustness_corpus


def _table(result: CorpusResult) -> str:
    rows: list[Verdicts] = [result.netdetect, result.rita_low, result.rita_high]
    lines = [
        f"{'method':<22}{'recall':>8}{'FP rate':>9}{'precision':>11}{'ROC AUC':>9}",
        *(
            f"{v.name:<22}{v.recall:>8.3f}{v.false_positive_rate:>9.3f}{v.precision:>11.3f}{v.roc_auc:>9.4f}"
            for v in rows
        ),
        "",
        "recall by jitter level",
        f"{'level':<10}{'groups':>7}" + "".join(f"{v.name:>22}" for v in rows),
    ]
    level = np.array(result.level)
    for lv in result.netdetect.recall_by:
        n = int((result.label & (level == lv)).sum())
        lines.append(f"{lv:<10}{n:>7}" + "".join(f"{v.recall_by[lv]:>22.3f}" for v in rows))
    kind = np.array(result.kind)
    lines += ["", "recall by kind of check-in series"]
    lines.append(f"{'kind':<16}{'groups':>7}" + "".join(f"{v.name:>22}" for v in rows))
    for k in result.netdetect.recall_by_kind:
        n = int((result.label & (kind == k)).sum())
        lines.append(f"{k:<16}{n:>7}" + "".join(f"{v.recall_by_kind[k]:>22.3f}" for v in rows))
    lines += ["", "false positives by kind of ordinary traffic"]
    lines.append(f"{'kind':<16}{'groups':>7}" + "".join(f"{v.name:>22}" for v in rows))
    for k in result.netdetect.false_positives_by:
        n = int((~result.label & (kind == k)).sum())
        lines.append(f"{k:<16}{n:>7}" + "".join(f"{v.false_positives_by[k]:>22d}" for v in rows))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--beacons", type=int, default=50, help="check-in groups per window length")
    parser.add_argument("--ordinary", type=int, default=100, help="ordinary groups per window length")
    parser.add_argument("--per-kind", type=int, default=40, help="groups per robustness shape and window")
    parser.add_argument("--misses", action="store_true", help="list missed beacons and false positives")
    args = parser.parse_args()

    main_corpus = labeled_corpus(args.seed, args.beacons, args.ordinary)
    robust_corpus = robustness_corpus(args.seed, args.per_kind)
    for title, corpus in (
        ("windows 1 h .. 7 days", main_corpus),
        ("robustness shapes, windows 5 min .. 1 day", robust_corpus),
    ):
        _report(title, corpus, args.seed, args.misses)
        print()


def _report(title: str, corpus: list[SyntheticSet], seed: int, misses: bool) -> None:
    connections = sum(s.ts.size for s in corpus)
    groups = sum(s.n_groups for s in corpus)
    started = time.perf_counter()
    result = evaluate(corpus)
    elapsed = time.perf_counter() - started
    print(
        f"corpus: seed {seed}, {groups} groups ({int(result.label.sum())} check-ins), "
        f"{connections} connections, {title}; scored in {elapsed:.2f} s"
    )
    print(f"default threshold {result.tables[0].threshold}\n")
    print(_table(result))
    print(f"\nestimated period within 10% of truth (detected check-ins): {result.period_within(0.1):.3f}")

    if misses:
        print("\nmissed check-ins and false positives:")
        for s, t in zip(corpus, result.tables, strict=True):
            for i in range(s.n_groups):
                wrong = bool(t.beacon[i]) != bool(s.label[i])
                if wrong:
                    sub = t.row_subscores(i)
                    print(
                        f"  window {(s.window[1] - s.window[0]) / 3600:>5.2f} h  {s.kind[i]:<14}"
                        f"{s.jitter_level[i]:<6} score {t.score[i]:.3f} conns {t.connections[i]:>6} "
                        f"events {sub['events']:.0f} evidence {sub['evidence']:.1f} span {sub['span']:.2f} "
                        f"period {t.period_s[i]:.0f}/{s.period_s[i]:.0f} rita {sub['rita_score']:.3f}  "
                        f"{s.notes[i]}"
                    )


if __name__ == "__main__":
    main()
