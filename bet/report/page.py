"""HTML building blocks for the report: escaped text, tables, key/value lists, the page with its
inline stylesheet (no script, no web font, nothing fetched)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#222;max-width:1120px;margin:24px auto;
padding:0 20px;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #eee;padding-bottom:.2em}
h3{margin-top:1.3em}.sub{color:#666;margin-top:0}.lead{font-size:1.12em;background:#f6f8fa;border-left:4px solid #d62728;
padding:.6em .9em}table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.me td{background:#fff5f5;font-weight:600}
.note{color:#555;font-size:.9em}.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.figs svg{border:1px solid #eee;background:#fff}dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dl.kv dt{color:#555}dl.kv dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-all}
code{background:#f3f3f3;padding:0 3px}details{margin:.5em 0}summary{cursor:pointer;color:#333}
section.run{border-top:3px solid #d62728;margin-top:2.2em}
@media print{section.run{page-break-before:always}}
"""


NUM = '<td class="n">'


class Html(str):
    """Markup already escaped (passes through :func:`esc` unchanged)."""


def esc(value: Any) -> Html:
    return value if isinstance(value, Html) else Html(escape(str(value)))


def bold(text: str) -> Html:
    """Escape ``text``, then render the dashboard's ``**bold**`` marks as ``<strong>``."""
    return Html(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escape(text)))


def num(value: float | int | None, spec: str = ".4f") -> str:
    return "–" if value is None else format(value, spec)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Sequence[int] = (),
    highlight: Sequence[bool] = (),
) -> Html:
    """A table; cells are escaped unless :class:`Html`; ``numeric`` columns are right-aligned."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for k, row in enumerate(rows):
        cls = ' class="me"' if k < len(highlight) and highlight[k] else ""
        cells = "".join((NUM if j in numeric else "<td>") + f"{esc(c)}</td>" for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return Html(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def kv(pairs: Iterable[tuple[str, Any]]) -> Html:
    return Html('<dl class="kv">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>")


def flatten(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested config → ``("pretrain.epochs", 300)`` pairs, in the config's order."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", "–" if v is None else v))
    return out


def figs(svgs: Iterable[str]) -> Html:
    return Html('<div class="figs">' + "".join(svgs) + "</div>")


def document(title: str, subtitle: str, parts: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f'<h1>{esc(title)}</h1><p class="sub">{esc(subtitle)}</p>' + "".join(parts) + "</body></html>\n"
    )
