"""Longer fuzz run of the application decoders (DNS, TLS, QUIC, HTTP) under atheris (coverage-guided).

    python benchmarks/fuzz_decoders.py --seconds 300

The first input byte picks the decoder, the rest is its input; seeds are the valid messages and shared
corpus payloads of tests/test_fuzz_decoders.py. Anything but DecodeError escaping a decoder is a crash
(atheris stops and writes the input to crash-*); the run prints the number of cases executed and the rate.
Without atheris installed it falls back to a seeded random mutation loop.
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

try:
    import atheris
except ImportError:
    atheris = None

if atheris is not None and "--engine=random" not in sys.argv:
    with atheris.instrument_imports(include=["netdetect"]):  # coverage feedback from the decoders only
        import test_fuzz_decoders as targets
else:
    import test_fuzz_decoders as targets

NAMES = sorted(targets.TARGETS)
stats = {"cases": 0, "decode_errors": 0, "start": time.monotonic()}
PROGRESS_EVERY = 500_000


def one_input(data: bytes) -> None:
    if not data:
        return
    stats["cases"] += 1
    if stats["cases"] % PROGRESS_EVERY == 0:
        report()  # libFuzzer exits without running atexit handlers: print as we go
    target = NAMES[data[0] % len(NAMES)]
    try:
        targets.TARGETS[target](data[1:])
    except targets.DecodeError:
        stats["decode_errors"] += 1


def report() -> None:
    took = time.monotonic() - stats["start"]
    cases = stats["cases"]
    print(
        f"fuzz_decoders: {cases} cases in {took:.0f} s ({cases / max(took, 1e-9):.0f}/s), "
        f"{stats['decode_errors']} rejected with DecodeError, targets: {', '.join(NAMES)}",
        flush=True,
    )


def write_seeds(folder: Path) -> int:
    count = 0
    for index, name in enumerate(NAMES):
        for seed in targets.seeds(name):
            (folder / f"{name}-{count}").write_bytes(bytes([index]) + seed)
            count += 1
    return count


def random_loop(seconds: float, seed: int) -> None:
    rng = random.Random(seed)
    pool = [bytes([i]) + s for i, name in enumerate(NAMES) for s in targets.seeds(name)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(200):
            data = bytearray(rng.choice(pool))
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(1, max(len(data), 2))
                kind = rng.randrange(4)
                if kind == 0 and at < len(data):
                    data[at] = rng.randrange(256)
                elif kind == 1:
                    del data[at:]
                elif kind == 2:
                    data[at:at] = rng.randbytes(rng.randint(1, 16))
                else:
                    del data[at : at + rng.randint(1, 16)]
            one_input(bytes(data))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", choices=["atheris", "random"], default="atheris")  # --engine=random
    args = parser.parse_args()
    atexit.register(report)
    if args.engine == "random" or atheris is None:
        print("engine: seeded random mutation loop", flush=True)
        random_loop(args.seconds, args.seed)
        return
    folder = Path(tempfile.mkdtemp(prefix="netdetect-fuzz-"))
    print(f"engine: atheris, {write_seeds(folder)} seeds in {folder}", flush=True)
    argv = [sys.argv[0], str(folder), f"-max_total_time={args.seconds}", f"-seed={args.seed}",
            "-max_len=4096", "-rss_limit_mb=1024", "-timeout=5", "-print_final_stats=1"]  # fmt: skip
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
