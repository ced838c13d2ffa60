"""Inline SVG plots for the HTML report, drawn with numpy and no plotting library.

Plots use presentation attributes only (no `style=`), so the page's Content-Security-Policy can
forbid inline styles other than its own hashed stylesheet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from netdetect.output.markup import Markup, el, join
from netdetect.output.text import finite, human_duration, human_time

TICK_COLOR = "#e03131"
BAR_COLOR = "#1c7ed6"
POINT_COLOR = "#5f3dc4"
AXIS_COLOR = "#495057"
GRID_COLOR = "#dee2e6"
SCORE_COLOR = "#2f9e44"
PERIOD_COLOR = "#e67700"


@dataclass(frozen=True, slots=True)
class Frame:
    """A plot area inside an SVG canvas."""

    width: int = 880
    height: int = 160
    left: int = 58
    right: int = 34
    top: int = 20
    bottom: int = 34

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> int:
        return self.top + self.plot_height


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _canvas(frame: Frame, label: str, css_class: str, *children: object) -> Markup:
    return el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": css_class,
            "viewBox": f"0 0 {frame.width} {frame.height}",
            "width": frame.width,
            "height": frame.height,
            "role": "img",
            "aria-label": label,
        },
        el("title", None, label),
        *children,
    )


def _axes(frame: Frame) -> Markup:
    x0, x1, y0, y1 = frame.left, frame.left + frame.plot_width, frame.top, frame.baseline
    return el(
        "path",
        {
            "d": f"M{x0} {y0} V{y1} H{x1}",
            "stroke": AXIS_COLOR,
            "fill": "none",
            "shape-rendering": "crispEdges",
        },
    )


def _text(x: float, y: float, text: str, anchor: str = "middle") -> Markup:
    return el("text", {"x": _num(x), "y": _num(y), "text-anchor": anchor, "class": "axis"}, text)


def clean_times(times: np.ndarray | None) -> np.ndarray:
    if times is None:
        return np.empty(0)
    values = np.asarray(times, dtype="f8").ravel()
    return np.sort(values[np.isfinite(values)])


def timeline(
    times: np.ndarray | None,
    sizes: np.ndarray | None,
    first_seen: float | None,
    last_seen: float | None,
    frame: Frame = Frame(),
) -> Markup | None:
    """One tick per check-in along the observation window; tick height is the connection's bytes
    on a log scale (all ticks equal when sizes are unknown). Several check-ins falling on the same
    pixel column draw once, at the largest size, which keeps the SVG small for any count."""
    raw = None if times is None else np.asarray(times, dtype="f8").ravel()
    if raw is None or raw.size == 0:
        return None
    keep = np.isfinite(raw)
    stamps = raw[keep]
    if stamps.size == 0:
        return None
    weights = np.ones_like(stamps)
    have_sizes = sizes is not None and np.asarray(sizes).size == raw.size
    if have_sizes:
        size_values = np.asarray(sizes, dtype="f8").ravel()[keep]
        size_values = np.where(np.isfinite(size_values) & (size_values > 0), size_values, 0.0)
        top = np.log1p(size_values.max())
        weights = np.log1p(size_values) / top if top > 0 else weights
    start = min(float(stamps.min()), finite(first_seen) or float(stamps.min()))
    end = max(float(stamps.max()), finite(last_seen) or float(stamps.max()))
    span = end - start if end > start else 1.0
    columns = np.round((stamps - start) / span * (frame.plot_width - 1)).astype(np.int64)
    order = np.lexsort((-weights, columns))  # per column, the tallest tick first
    columns, weights = columns[order], weights[order]
    first_in_column = np.ones(columns.size, dtype=bool)
    first_in_column[1:] = columns[1:] != columns[:-1]
    heights = np.maximum(weights[first_in_column] * frame.plot_height, 3.0)
    xs = frame.left + 1 + columns[first_in_column]
    path = "".join(
        f"M{x} {frame.baseline}v-{_num(h)}" for x, h in zip(xs.tolist(), heights.tolist(), strict=True)
    )
    ticks = el(
        "path",
        {
            "d": path,
            "stroke": TICK_COLOR,
            "stroke-width": 1,
            "fill": "none",
            "shape-rendering": "crispEdges",
            "class": "ticks",
        },
    )
    labels = [
        _text(
            frame.left + frame.plot_width * share, frame.baseline + 16, human_time(start + span * share)[5:16]
        )
        for share in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    labels[0] = _text(frame.left, frame.baseline + 16, human_time(start)[5:16], "start")
    labels[-1] = _text(frame.left + frame.plot_width, frame.baseline + 16, human_time(end)[5:16], "end")
    y_label = "bytes (log)" if have_sizes else "check-in"
    label = f"{stamps.size} check-ins from {human_time(start)} to {human_time(end)}"
    return _canvas(
        frame,
        label,
        "plot timeline",
        _axes(frame),
        ticks,
        *labels,
        _text(frame.left, frame.top - 6, y_label, "start"),
        _text(frame.left + frame.plot_width / 2, frame.height - 2, "time (UTC)"),
    )


def interval_counts(
    histogram: list[int], edges: list[float], times: np.ndarray | None, bins: int = 40
) -> tuple[np.ndarray, np.ndarray] | None:
    """The finding's own histogram when it is consistent, else one computed from the check-ins."""
    counts = np.asarray(histogram, dtype="f8")
    edge_values = np.asarray([finite(edge) for edge in edges], dtype="f8") if edges else np.empty(0)
    if (
        counts.size > 0
        and edge_values.size == counts.size + 1
        and np.all(np.isfinite(edge_values))
        and np.all(np.diff(edge_values) > 0)
        and np.all(counts >= 0)
    ):
        return counts, edge_values
    stamps = clean_times(times)
    if stamps.size < 3:
        return None
    gaps = np.diff(stamps)
    upper = float(np.quantile(gaps, 0.99)) * 1.1
    if upper <= 0:
        upper = float(gaps.max()) or 1.0
    computed, computed_edges = np.histogram(np.minimum(gaps, upper), bins=bins, range=(0.0, upper))
    return computed.astype("f8"), computed_edges


def histogram(
    histogram_counts: list[int],
    edges: list[float],
    times: np.ndarray | None,
    period_s: float | None,
    frame: Frame = Frame(),
) -> Markup | None:
    """Bars of how many intervals fell in each bin, with the estimated period marked."""
    data = interval_counts(histogram_counts, edges, times)
    if data is None:
        return None
    counts, bin_edges = data
    low, high = float(bin_edges[0]), float(bin_edges[-1])
    tallest = float(counts.max()) if counts.size and counts.max() > 0 else 1.0

    def x_of(value: float) -> float:
        return frame.left + (value - low) / (high - low) * frame.plot_width

    bars = []
    for count, left_edge, right_edge in zip(
        counts.tolist(), bin_edges[:-1].tolist(), bin_edges[1:].tolist(), strict=True
    ):
        if count <= 0:
            continue
        height = max(count / tallest * frame.plot_height, 1.5)
        x = x_of(left_edge)
        bars.append(
            el(
                "rect",
                {
                    "x": _num(x + 0.5),
                    "y": _num(frame.baseline - height),
                    "width": _num(max(x_of(right_edge) - x - 1, 1.0)),
                    "height": _num(height),
                    "fill": BAR_COLOR,
                    "class": "bar",
                },
                el("title", None, f"{human_duration(left_edge)}-{human_duration(right_edge)}: {int(count)}"),
            )
        )
    marks: list[Markup] = []
    period = finite(period_s)
    if period is not None and low <= period <= high:
        x = x_of(period)
        marks.append(
            el(
                "path",
                {
                    "d": f"M{_num(x)} {frame.top} V{frame.baseline}",
                    "stroke": PERIOD_COLOR,
                    "stroke-dasharray": "4 3",
                    "fill": "none",
                    "class": "period",
                },
            )
        )
        marks.append(
            _text(
                min(x + 4, frame.left + frame.plot_width - 2),
                frame.top - 6,  # above the plot area, clear of the bars
                f"period {human_duration(period)}",
                "start" if x < frame.width * 0.75 else "end",
            )
        )
    labels = [
        _text(
            x_of(low + (high - low) * share), frame.baseline + 16, human_duration(low + (high - low) * share)
        )
        for share in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]
    total = int(counts.sum())
    label = f"{total} intervals between {human_duration(low)} and {human_duration(high)}"
    return _canvas(
        frame,
        label,
        "plot histogram",
        _axes(frame),
        join(bars),
        *marks,
        *labels,
        _text(frame.left - 6, frame.top + 4, str(int(tallest)), "end"),
        _text(frame.left + frame.plot_width / 2, frame.height - 2, "interval between check-ins"),
    )


def interval_drift(times: np.ndarray | None, period_s: float | None, frame: Frame = Frame()) -> Markup | None:
    """Each interval plotted at the time it ended: a flat band is a steady beacon, steps are
    missed check-ins, a spread is jitter."""
    stamps = clean_times(times)
    if stamps.size < 3:
        return None
    gaps = np.diff(stamps)
    ends = stamps[1:]
    ceiling = float(np.quantile(gaps, 0.99)) * 1.2
    if ceiling <= 0:
        ceiling = float(gaps.max()) or 1.0
    span = float(stamps[-1] - stamps[0]) or 1.0
    xs = frame.left + 1 + np.round((ends - stamps[0]) / span * (frame.plot_width - 3))
    ys = frame.baseline - 2 - np.round(np.minimum(gaps, ceiling) / ceiling * (frame.plot_height - 3))
    points = np.unique(np.stack([xs, ys], axis=1), axis=0)
    path = "".join(f"M{int(x)} {int(y)}h2v2h-2z" for x, y in points.tolist())
    marks: list[Markup] = []
    period = finite(period_s)
    if period is not None and 0 < period <= ceiling:
        y = frame.baseline - period / ceiling * (frame.plot_height - 3)
        marks.append(
            el(
                "path",
                {
                    "d": f"M{frame.left} {_num(y)} H{frame.left + frame.plot_width}",
                    "stroke": PERIOD_COLOR,
                    "stroke-dasharray": "4 3",
                    "fill": "none",
                    "class": "period",
                },
            )
        )
    labels = [
        _text(frame.left - 6, frame.baseline, "0", "end"),
        _text(frame.left - 6, frame.top + 4, human_duration(ceiling), "end"),
        _text(frame.left, frame.baseline + 16, human_time(float(stamps[0]))[5:16], "start"),
        _text(frame.left + frame.plot_width, frame.baseline + 16, human_time(float(stamps[-1]))[5:16], "end"),
        _text(frame.left + frame.plot_width / 2, frame.height - 2, "interval (y) at the time it ended (x)"),
    ]
    label = f"{gaps.size} intervals over time"
    return _canvas(
        frame,
        label,
        "plot drift",
        _axes(frame),
        *marks,
        el("path", {"d": path, "fill": POINT_COLOR, "class": "points", "shape-rendering": "crispEdges"}),
        *labels,
    )


def score_bar(value: float | None, width: int = 160, height: int = 12) -> Markup:
    share = finite(value)
    filled = 0.0 if share is None else min(max(share, 0.0), 1.0) * width
    return el(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "class": "scorebar",
            "viewBox": f"0 0 {width} {height}",
            "width": width,
            "height": height,
            "aria-hidden": "true",
        },
        el("rect", {"x": 0, "y": 0, "width": width, "height": height, "fill": GRID_COLOR}),
        el("rect", {"x": 0, "y": 0, "width": _num(filled), "height": height, "fill": SCORE_COLOR}),
    )
