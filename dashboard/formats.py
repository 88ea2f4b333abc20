"""Numbers as a stakeholder reads them (plain Python, no streamlit): compact budgets ("44k", not
"43.744k"), axis scales that do not print "−0.000037", table heights that end on a whole row."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: Where a log x axis is the default: the largest positive value at least this many times the smallest.
DECADE = 10.0


def compact(value: float) -> str:
    """``43744`` → ``"44k"``, ``4374`` → ``"4.4k"``, ``874880`` → ``"875k"``, ``9067392`` → ``"9.1M"``:
    two or three significant digits, what a tick or a table cell needs. Raises ``ValueError`` on NaN."""
    if value != value:
        raise ValueError("compact() of NaN: leave the cell empty instead")
    sign, a = ("-" if value < 0 else ""), abs(float(value))
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if round(a, -int(math.log10(scale)) + 2) >= scale:  # 999,960 rounds up into the next unit
            v = a / scale
            text = f"{v:.0f}" if round(v, 1) >= 10 else f"{v:.1f}".removesuffix(".0")
            return f"{sign}{text}{unit}"
    return f"{sign}{a:.0f}" if a >= 10 or a == int(a) else f"{sign}{a:.2g}"


def short_number(value: float) -> str:
    """A small quantity (megabytes, a ratio) with two significant digits: ``0.1749`` → ``"0.17"``,
    ``3.4995`` → ``"3.5"``; large ones go through :func:`compact`."""
    return compact(value) if abs(value) >= 1000 else f"{value:.2g}"


def distinct_ticks(values: Iterable[float], apart: float = 1.02) -> list[float]:
    """The values to label on a log axis: the largest of values within ``apart`` (2 %) of each other
    (a budget's runs cost a few parameters less than it: one label, not a smudge of overlapping ones)."""
    out: list[float] = []
    for v in sorted({float(v) for v in values if v == v and v > 0}, reverse=True):
        if not out or v < out[-1] / apart:
            out.append(v)
    return out[::-1]


def spans_decade(values: Iterable[float]) -> bool:
    """Whether the positive ``values`` span at least a factor :data:`DECADE` (a log axis shows them apart)."""
    pos = [float(v) for v in values if v == v and v > 0]
    return bool(pos) and max(pos) >= DECADE * min(pos)


def power_of_ten(values: Sequence[float | None]) -> int:
    """The power of ten to divide ``values`` by for an axis: 0 when the largest reads well as it is
    (0.01 to 1000, or nothing to scale); below, the largest's own power (an axis of tiny losses
    reads "0, 2, 4" with "× 10⁻⁵" in its title instead of "0.00002, 0.00004"); above, thousands."""
    top = max((abs(float(v)) for v in values if v is not None and v == v), default=0.0)
    if top == 0 or 0.01 <= top < 1000:
        return 0
    return 3 * math.floor(math.log10(top) / 3) if top >= 1000 else math.floor(math.log10(top))


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def times_ten(power: int) -> str:
    """``-5`` → ``"× 10⁻⁵"`` (an axis title's scale); ``""`` for 0."""
    return f"× 10{str(power).translate(SUPERSCRIPT)}" if power else ""


def single_value_range(values: Iterable[float | None], lo: float = 0.0, hi: float = 1.0) -> list[float] | None:
    """A y range for a chart whose values are all one number (one point, or a tie), centred on it
    within ``[lo, hi]`` — Plotly's own is ±1 around it (recall from −0.5 to 1). None otherwise."""
    vals = {round(float(v), 12) for v in values if v is not None and v == v}
    if len(vals) != 1:
        return None
    v = vals.pop()
    pad = max(abs(v) * 0.25, 0.01)
    return [max(lo, v - pad), min(hi, v + pad)] if lo < v < hi else [v - pad, v + pad]


def integer_axis(values: Iterable[float]) -> dict[str, object]:
    """Axis settings for counts (iterations): whole-number ticks, never "1.5"."""
    vals = [v for v in values if v is not None]
    span = (max(vals) - min(vals)) if vals else 0
    return {"tickformat": "d", "dtick": 1} if span <= 10 else {"tickformat": "d"}


#: Pixels of one row of st.dataframe (and its header), and what its border adds.
ROW_PX, BORDER_PX = 35, 3


def table_height(rows: int, most: int = 15) -> int:
    """The height of a table that shows ``rows`` (at most ``most``, then it scrolls) whole rows: the
    default shows ten and a sliver of the eleventh, which reads as a row cut off."""
    if rows < 0:
        raise ValueError(f"a table has no {rows} rows")
    return ROW_PX * (min(max(rows, 1), most) + 1) + BORDER_PX
