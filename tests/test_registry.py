"""One lazy registry (netdetect/registry.py) behind output formats, intel loaders, engines and detectors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netdetect.detectors.base import DETECTORS
from netdetect.engines import ENGINE_REGISTRY, ENGINES, engine_class
from netdetect.errors import IntelError, UsageError
from netdetect.intel.loaders import LOADER_MODULES, LOADERS, load_path, loader_class
from netdetect.intel.loaders.base import LOADER_REGISTRY
from netdetect.output.base import FORMAT_MODULES, FORMAT_REGISTRY, FORMATS, formatter_for
from netdetect.registry import Registry

ROOT = Path(__file__).resolve().parents[1]


def test_the_registries_are_one_kind() -> None:
    for registry in (FORMAT_REGISTRY, LOADER_REGISTRY, ENGINE_REGISTRY, DETECTORS):
        assert isinstance(registry, Registry)
    # The old module-level names are the registry's own dicts, so code reading them sees registrations.
    assert FORMATS is FORMAT_REGISTRY.classes and FORMAT_MODULES is FORMAT_REGISTRY.modules
    assert LOADERS is LOADER_REGISTRY.classes and LOADER_MODULES is LOADER_REGISTRY.modules
    assert ENGINES is ENGINE_REGISTRY.modules


def test_unknown_names_keep_their_messages() -> None:
    with pytest.raises(
        UsageError, match=r"^unknown output format 'xml' \(known: csv, ecs, eve, jsonl, table\)$"
    ):
        formatter_for("xml")
    with pytest.raises(UsageError, match=r"^unknown engine 'zeek'; choose one of native, tshark$"):
        engine_class("zeek")
    with pytest.raises(KeyError):
        loader_class("yaml")
    with pytest.raises(
        IntelError, match=r"unknown intel format 'yaml' \(known: csv, jsonl, misp, pack, stix"
    ):
        load_path(ROOT / "README.md", format="yaml")


def test_a_name_is_imported_when_first_asked_for() -> None:
    script = (
        "import sys\n"
        "from netdetect.output.base import all_formats, formatter_for\n"
        "from netdetect.intel.loaders import loader_class\n"
        "from netdetect.engines import engine_class\n"
        "before = {m for m in sys.modules if m.startswith(('netdetect.output.', 'netdetect.intel.loaders.',"
        " 'netdetect.engines.'))}\n"
        "assert formatter_for('csv').name == 'csv' and loader_class('jsonl').name == 'jsonl'\n"
        "assert engine_class('native').name == 'native'\n"
        "after = {m for m in sys.modules if m.startswith(('netdetect.output.', 'netdetect.intel.loaders.',"
        " 'netdetect.engines.'))}\n"
        "print(sorted(before), sorted(after - before))\n"
        "assert list(all_formats()) == ['csv', 'ecs', 'eve', 'jsonl', 'table']\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT)},
        check=True,
    )
    before, new = done.stdout.strip().split("] [")
    assert "csvfmt" not in before and "pack" not in before and "tshark" not in before
    assert "netdetect.output.csvfmt" in new and "netdetect.intel.loaders.pack" in new
    assert "netdetect.output.eve" not in new and "netdetect.engines.tshark" not in new


class _Thing:
    name = "thing"


def test_register_get_and_order() -> None:
    things: Registry[_Thing] = Registry(
        "thing", {"b": "netdetect.registry:Registry"}, unknown="no {name}: {sorted}"
    )
    assert things.register(_Thing) is _Thing
    assert things.names() == ["b", "thing"] and "thing" in things and "c" not in things
    assert things.get("thing") is _Thing and things.get("b") is Registry
    assert list(things.all()) == ["b", "thing"]
    with pytest.raises(UsageError, match=r"^no c: b, thing$"):
        things.get("c")
