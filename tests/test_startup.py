"""What `netdetect scan` imports: only what a run needs (other subcommands, other output formats, the
HTML report, other feed formats, QUIC decryption and IDNA are loaded when used), and the lazy loading
still finds every command, format and loader."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from netdetect.cli.main import SUBCOMMANDS, cli
from netdetect.intel.loaders import LOADER_MODULES, all_loaders
from netdetect.output.base import FORMAT_MODULES, all_formats

REPO = Path(__file__).resolve().parents[1]
NOT_FOR_A_PLAIN_SCAN = [
    "netdetect.cli.events",
    "netdetect.cli.show",
    "netdetect.cli.intel_cmd",
    "netdetect.cli.allowlist_cmd",
    "netdetect.output.html",
    "netdetect.output.svg",
    "netdetect.output.table",
    "netdetect.output.csvfmt",
    "netdetect.intel.loaders.stix",
    "netdetect.intel.loaders.misp",
    "netdetect.intel.loaders.csvfile",
    "netdetect.intel.loaders.zeek",
    "netdetect.intel.loaders.text",
    "netdetect.engines.tshark",
    "cryptography",
    "idna",
    "numpy.random",
    "importlib.resources",
]


def test_a_jsonl_scan_imports_only_what_it_uses(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    script = (
        "import json, sys\n"
        "from netdetect.cli.main import main\n"
        f"sys.argv = ['netdetect', 'scan', '-q', '-f', 'jsonl', '-o', {os.devnull!r}, {str(empty)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert "netdetect.analysis" in loaded and "netdetect.output.jsonl" in loaded
    assert [m for m in NOT_FOR_A_PLAIN_SCAN if m in loaded] == []


def test_lazy_registries_still_hold_everything() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:")[1].split()
    assert set(SUBCOMMANDS) <= set(listed)
    assert all(cli.get_command(None, name) is not None for name in SUBCOMMANDS)  # type: ignore[arg-type]
    assert {name: cls.name for name, cls in all_formats().items()} == {n: n for n in FORMAT_MODULES}
    assert {name: cls.name for name, cls in all_loaders().items()} == {n: n for n in LOADER_MODULES}
