"""The HTML report in a real browser: hostile names never execute, and the plots render.

Runs headless Debian `chromium` on file:// pages with networking features off. Skipped, with the
reason, when chromium is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from netdetect.output import render_html
from netdetect.output.svg import BAR_COLOR, TICK_COLOR
from netdetect.testing.sample import HOSTILE_NAMES, sample_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (Debian: apt-get install chromium)"),
]
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
]


def run_chromium(tmp_path: Path, page: Path, *extra: str) -> str:
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._in_title = False
        self.title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title" and not any(t == "svg" for t, _ in self.tags[:-1]) and not self.title

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.title += data


def dump_dom(tmp_path: Path, page: Path) -> tuple[str, Dom]:
    # --virtual-time-budget lets pending events (an <img> onerror) fire before the DOM is dumped.
    raw = run_chromium(tmp_path, page, "--virtual-time-budget=2000", "--dump-dom")
    dom = Dom()
    dom.feed(raw)
    dom.close()
    return raw, dom


def test_harness_detects_a_payload_that_does_run(tmp_path: Path) -> None:
    """Control: unescaped, the payload creates an element and changes the title, and we see it."""
    page = tmp_path / "unsafe.html"
    page.write_text(
        f"<!DOCTYPE html><title>netdetect report</title><p>{HOSTILE_NAMES[0]}</p>", encoding="utf-8"
    )
    _, dom = dump_dom(tmp_path, page)
    assert dom.title == "pwned"
    assert any(tag == "img" for tag, _ in dom.tags)


@pytest.mark.parametrize("with_csp", [True, False], ids=["csp", "escaping-alone"])
def test_hostile_names_do_not_run_and_are_shown_as_text(tmp_path: Path, with_csp: bool) -> None:
    html = render_html(sample_report(hostile=True))
    if not with_csp:  # escaping must hold on its own; CSP is only defence in depth
        start = html.index('<meta http-equiv="Content-Security-Policy"')
        html = html[:start] + html[html.index(">", start) + 1 :]
        assert "Content-Security-Policy" not in html
    page = tmp_path / "hostile.html"
    page.write_text(html, encoding="utf-8")
    raw, dom = dump_dom(tmp_path, page)
    tags = [tag for tag, _ in dom.tags]
    assert dom.title == "netdetect report"  # the onerror payload would have set it to 'pwned'
    assert "img" not in tags and "script" not in tags
    # Every <svg> in the page is one of ours (the <svg/onload> payload created none).
    assert all(
        (attrs.get("class") or "").startswith(("plot", "scorebar")) for tag, attrs in dom.tags if tag == "svg"
    )
    text = "".join(dom.text)
    for name in (HOSTILE_NAMES[0], HOSTILE_NAMES[1], "<svg/onload=alert(1)>.example"):
        assert name in text  # the reader sees the name exactly as it was on the wire
    assert "evil\\x1b[31m.example\\x1b[0m\\u202eexe.com" in text
    assert "&lt;img src=x onerror=" in raw  # serialised DOM holds it as escaped text


def test_screenshot_shows_the_top_findings_plots(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(sample_report()), encoding="utf-8")
    _, dom = dump_dom(tmp_path, page)
    svg_classes = [attrs.get("class") for tag, attrs in dom.tags if tag == "svg"]
    assert {"plot timeline", "plot histogram", "plot drift"} <= set(svg_classes)
    shot = tmp_path / "shot.png"
    run_chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1280,2000")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image_module = pytest.importorskip("PIL.Image", reason="pixel checks need Pillow (pip install pillow)")
    with image_module.open(shot) as opened:
        image = opened.convert("RGB")
    assert image.size == (1280, 2000)
    colors = image.getcolors(maxcolors=1 << 20)
    assert colors is not None and len(colors) > 50  # not a blank page

    def pixels_of(hex_color: str) -> int:
        wanted = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        return sum(count for count, rgb in colors if rgb == wanted)

    # Timeline ticks (86 check-ins of the top finding, crisp 1 px lines ~90 px tall) and histogram bars.
    assert pixels_of(TICK_COLOR) > 86 * 50
    assert pixels_of(BAR_COLOR) > 5000
