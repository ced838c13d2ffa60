"""Allowlist: default list, names with wildcards, CIDRs, client/server pairs, bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdetect.allowlist import Allowlist, default_allowlist_path
from netdetect.errors import IntelError
from netdetect.intel import IntelStore


@pytest.fixture()
def user_list(tmp_path: Path) -> Path:
    path = tmp_path / "site.txt"
    path.write_text(
        "# site allowlist\n"
        "backup.corp.example            # nightly backup\n"
        "*.monitoring.example\n"
        "192.0.2.0/24\n"
        "10.0.0.5 -> 198.51.100.1\n"
        "10.1.0.0/16 -> *.vendor.example\n"
        "* -> 2001:db8::/32\n"
    )
    return path


def test_default_list_covers_periodic_services_and_no_intel() -> None:
    allow = Allowlist.load()
    assert allow.problems == []
    assert default_allowlist_path().is_file()
    for name in (
        "time.windows.com",
        "ctldl.windowsupdate.com",
        "au.download.windowsupdate.com",
        "r3.o.lencr.org",
        "connectivitycheck.gstatic.com",
        "1-courier.push.apple.com",
        "v10.events.data.microsoft.com",
        "0.pool.ntp.org",
        "pool.ntp.org",
    ):
        assert allow.match("10.0.0.9", ["203.0.113.1"], name) is not None, name
    for name in ("raw.githubusercontent.com", "github.com", "example.com", "notwindowsupdate.com"):
        assert allow.match("10.0.0.9", ["203.0.113.1"], name) is None, name
    store = IntelStore.load()
    listed = [i.value for i in store.indicators if i.type in ("domain", "hostname") and not i.benign]
    assert [v for v in listed if allow.match("10.0.0.9", [], v)] == []


def test_names_wildcards_cidrs_and_pairs(user_list: Path) -> None:
    allow = Allowlist.load([user_list], include_default=False)
    assert len(allow) == 6 and allow.problems == []
    assert allow.match("10.9.9.9", [], "BACKUP.corp.example.") == "backup.corp.example (site.txt:2)"
    assert allow.match("10.9.9.9", [], "x.backup.corp.example") is None  # bare name: exact only
    assert allow.match("10.9.9.9", [], "monitoring.example") == "*.monitoring.example (site.txt:3)"
    assert allow.match("10.9.9.9", [], "a.b.monitoring.example") == "*.monitoring.example (site.txt:3)"
    assert allow.match("10.9.9.9", [], "notmonitoring.example") is None
    assert allow.match("10.9.9.9", ["192.0.2.7", "192.0.2.8"], None) == "192.0.2.0/24 (site.txt:4)"
    assert allow.match("10.9.9.9", ["192.0.2.7", "203.0.113.1"], None) is None  # every server must be covered
    assert allow.match("10.0.0.5", ["198.51.100.1"], None) == "10.0.0.5 -> 198.51.100.1 (site.txt:5)"
    assert allow.match("10.0.0.6", ["198.51.100.1"], None) is None
    assert (
        allow.match("10.1.2.3", ["203.0.113.5"], "api.vendor.example")
        == "10.1.0.0/16 -> *.vendor.example (site.txt:6)"
    )
    assert allow.match("10.2.2.3", ["203.0.113.5"], "api.vendor.example") is None
    assert allow.match("10.2.2.3", ["2001:db8::1"], None) == "* -> 2001:db8::/32 (site.txt:7)"


def test_bad_lines_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("good.example\n10.0.0.0/33\n -> 1.2.3.4\nhttp://x.example/path\nlocalhost\n")
    allow = Allowlist.load([path], include_default=False)
    assert len(allow) == 1
    assert [p.split(": ", 1)[0] for p in allow.problems] == [f"{path}:{n}" for n in (2, 3, 4, 5)]
    with pytest.raises(IntelError) as err:
        Allowlist.load([path], include_default=False, strict=True)
    assert (err.value.path, err.value.line) == (str(path), 2)
    with pytest.raises(IntelError):
        Allowlist.load([tmp_path / "missing.txt"], include_default=False)
