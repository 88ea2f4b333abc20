"""Small dependency-free SVG charts for the report: an x/y chart (markers, lines, steps, reference
lines, a legend) and a bar histogram. Every text is escaped; no script, no external font."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

Fmt = Callable[[float], str]
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"
GRID, AXIS, TEXT = "#e3e3e3", "#555", "#222"


@dataclass
class Series:
    """One legend entry: points drawn as ``markers``, ``lines``, ``lines+markers`` or ``steps``."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    color: str = "#1f77b4"
    mode: str = "markers"
    dash: str = ""  # SVG stroke-dasharray, e.g. "6 4"
    ring: Sequence[bool] = field(default_factory=list)  # points circled (the reported runs)
    size: float = 4.5
    legend: bool = True


@dataclass
class HLine:
    """A horizontal reference across the whole chart (the full model, the popularity floor)."""

    y: float
    name: str
    color: str
    dash: str = "6 4"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (a degenerate range is padded)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks, t = [], start
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _decimals(step: float) -> int:
    d = 0
    while d < 6 and abs(step * 10**d - round(step * 10**d)) > 1e-6:
        d += 1
    return d


def fmt_number(step: float) -> Fmt:
    """A tick formatter whose precision follows the tick step (``20k``, ``0.05``, ``1.5M``)."""
    scale, unit = (1e6, "M") if abs(step) >= 1e5 else (1e3, "k") if abs(step) >= 100 else (1.0, "")
    d = _decimals(step / scale)

    def fmt(v: float) -> str:
        return "0" if abs(v) < 1e-12 else f"{v / scale:.{d}f}{unit}"

    return fmt


def percent(v: float) -> str:
    return f"{v:.0%}"


def _t(x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{TEXT}"{extra}>'
        f"{escape(text)}</text>"
    )


def _frame(width: int, height: int, title: str, *, body: list[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" style="{FONT};max-width:100%;height:auto">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _axes(
    body: list[str],
    box: tuple[float, float, float, float],
    *,
    xt: list[float],
    yt: list[float],
    sx: Callable[[float], float],
    sy: Callable[[float], float],
    fx: Fmt,
    fy: Fmt,
    xlabel: str,
    ylabel: str,
) -> None:
    left, top, right, bottom = box
    for v in yt:
        y = sy(v)
        body.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        body.append(_t(left - 6, y + 4, fy(v), anchor="end"))
    for v in xt:
        x = sx(v)
        body.append(f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="{AXIS}"/>')
        body.append(_t(x, bottom + 17, fx(v)))
    body.append(f'<path d="M{left:.1f},{top:.1f}V{bottom:.1f}H{right:.1f}" fill="none" stroke="{AXIS}"/>')
    body.append(_t((left + right) / 2, bottom + 36, xlabel, size=12))
    cy = (top + bottom) / 2
    body.append(_t(14, cy, ylabel, size=12, extra=f' transform="rotate(-90 14 {cy:.1f})"'))


def _legend(body: list[str], entries: list[tuple[str, str, str, bool]], *, x0: float, y0: float, width: float) -> int:
    """Legend rows under the plot (wrapping); returns the number of rows used."""
    x, y, rows = x0, y0, 1
    for name, color, dash, line in entries:
        w = 34 + 6.2 * len(name)
        if x + w > x0 + width and x > x0:
            x, y, rows = x0, y + 18, rows + 1
        if line:
            body.append(
                f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 22:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                f'stroke-width="2" stroke-dasharray="{dash}"/>'
            )
        else:
            body.append(f'<circle cx="{x + 11:.1f}" cy="{y - 4:.1f}" r="4.5" fill="{color}"/>')
        body.append(_t(x + 27, y, name, anchor="start"))
        x += w
    return rows


def xy_chart(
    series: Sequence[Series],
    title: str,
    *,
    xlabel: str,
    ylabel: str,
    hlines: Sequence[HLine] = (),
    x_min: float | None = None,
    y_min: float | None = None,
    fx: Fmt | None = None,
    fy: Fmt | None = None,
    xticks: Sequence[float] | None = None,
    width: int = 640,
    height: int = 340,
) -> str:
    """Markers / lines per series, horizontal reference lines, axes with round ticks, a legend."""
    xs = [float(v) for s in series for v in s.xs if v is not None and math.isfinite(v)]
    ys = [float(v) for s in series for v in s.ys if v is not None and math.isfinite(v)]
    ys += [h.y for h in hlines if math.isfinite(h.y)]
    xlo = min(xs, default=0.0) if x_min is None else x_min
    ylo = min(ys, default=0.0) if y_min is None else y_min
    xhi, yhi = max(xs, default=1.0), max(ys, default=1.0)
    xpad, ypad = (xhi - xlo) * 0.05, (yhi - ylo) * 0.08
    xt = list(xticks) if xticks else nice_ticks(xlo - (xpad if x_min is None else 0), xhi + xpad)
    yt = nice_ticks(ylo - (ypad if y_min is None else 0), yhi + ypad)
    fx, fy = fx or fmt_number(xt[1] - xt[0]), fy or fmt_number(yt[1] - yt[0])
    entries = [(s.name, s.color, s.dash, s.mode != "markers") for s in series if s.legend]
    entries += [(h.name, h.color, h.dash, True) for h in hlines]
    legend: list[str] = []
    rows = _legend(legend, entries, x0=64.0, y0=0.0, width=width - 80.0) if entries else 0
    left, top, right = 64.0, 30.0, width - 16.0
    bottom = height - 44.0 - 18 * rows
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    body = [_t(left, 18, title, anchor="start", size=13, extra=' font-weight="600"')]
    _axes(body, (left, top, right, bottom), xt=xt, yt=yt, sx=sx, sy=sy, fx=fx, fy=fy, xlabel=xlabel, ylabel=ylabel)
    for h in hlines:
        y = sy(h.y)
        body.append(
            f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{h.color}" '
            f'stroke-width="1.6" stroke-dasharray="{h.dash}"><title>{escape(h.name)}</title></line>'
        )
    for s in series:
        pts = [
            (sx(float(x)), sy(float(y)))
            for x, y in zip(s.xs, s.ys, strict=True)
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
        ]
        if s.mode in ("lines", "lines+markers", "steps") and len(pts) > 1:
            if s.mode == "steps":
                d = f"M{pts[0][0]:.1f},{pts[0][1]:.1f}" + "".join(f"H{x:.1f}V{y:.1f}" for x, y in pts[1:])
            else:
                d = "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            body.append(f'<path d="{d}" fill="none" stroke="{s.color}" stroke-width="2" stroke-dasharray="{s.dash}"/>')
        if s.mode in ("markers", "lines+markers"):
            for k, (x, y) in enumerate(pts):
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s.size}" fill="{s.color}" fill-opacity="0.85"/>')
                if k < len(s.ring) and s.ring[k]:
                    body.append(
                        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s.size + 4}" fill="none" stroke="#000" '
                        'stroke-width="1.5"/>'
                    )
    body.append(f'<g transform="translate(0,{bottom + 58:.1f})">' + "".join(legend) + "</g>")
    return _frame(width, height, title, body=body)


def bar_chart(
    xs: Sequence[int],
    counts: Sequence[int],
    title: str,
    *,
    xlabel: str,
    ylabel: str,
    color: str = "#1f77b4",
    marker: tuple[float, str] | None = None,
    x_max: float | None = None,
    width: int = 420,
    height: int = 260,
) -> str:
    """One bar per x (an embedding size) with its count; ``marker``: a dashed vertical line + label."""
    hi = max([*xs, marker[0] if marker else 0, 1]) if x_max is None else x_max
    xt = nice_ticks(0, hi + 1, 6)
    yt = nice_ticks(0, max([*counts, 1]) * 1.05, 4)
    left, top, right, bottom = 56.0, 30.0, width - 12.0, height - 44.0
    x0, x1, y1 = xt[0], xt[-1], yt[-1]

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * (right - left)

    def sy(v: float) -> float:
        return bottom - v / y1 * (bottom - top)

    body = [_t(left, 18, title, anchor="start", size=13, extra=' font-weight="600"')]
    _axes(
        body,
        (left, top, right, bottom),
        xt=xt,
        yt=yt,
        sx=sx,
        sy=sy,
        fx=fmt_number(xt[1] - xt[0]),
        fy=fmt_number(yt[1] - yt[0]),
        xlabel=xlabel,
        ylabel=ylabel,
    )
    w = max(1.0, (right - left) / (x1 - x0) * 0.9)
    for x, c in zip(xs, counts, strict=True):
        if c > 0:
            body.append(
                f'<rect x="{sx(x) - w / 2:.1f}" y="{sy(c):.1f}" width="{w:.1f}" height="{bottom - sy(c):.1f}" '
                f'fill="{color}"><title>size {int(x)}: {int(c):,} rows</title></rect>'
            )
    if marker is not None:
        mx = sx(marker[0])
        body.append(
            f'<line x1="{mx:.1f}" y1="{top:.1f}" x2="{mx:.1f}" y2="{bottom:.1f}" stroke="#333" stroke-dasharray="5 4"/>'
        )
        body.append(_t(mx + 4, top + 10, marker[1], anchor="start", size=10))
    return _frame(width, height, title, body=body)
