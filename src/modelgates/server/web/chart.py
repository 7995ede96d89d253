"""The account page's charts, drawn on the server as SVG: no script, and no style attribute
(the pages' Content-Security-Policy allows the stylesheet only), so colours are classes
(``.s0`` to ``.s7``) of modelgates.css.

The drawing has no text: it is stretched to the page's width (``preserveAspectRatio="none"``,
lines that keep their width), and the page sets its axis labels in HTML beside it, where they
stay legible at any width. What it shows is said in its ``<title>`` and ``<desc>``, and in the
tables the page puts next to it; each bar's own ``<title>`` is its tooltip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Chart", "Column", "Segment", "bar", "nice_top", "stacked_columns"]

#: The drawing's units: each column is this wide (the bar less a gap), the height is 100.
_COLUMN = 10
_BAR = 7
_HEIGHT = 100
#: A bar's least height, so that the smallest spend beside a large one is still seen.
_LEAST = 0.75


@dataclass(frozen=True)
class Segment:
    series: int
    amount: int
    label: str


@dataclass(frozen=True)
class Column:
    label: str
    #: Stacked from the bottom, in this order.
    segments: Sequence[Segment]


@dataclass(frozen=True)
class Chart:
    svg: Markup
    #: The amount at the top of the drawing (and its middle line is half of it).
    top: int


def nice_top(largest: int) -> int:
    """The least of 1, 2, 2.5, 3, 4, 5, 6 and 8 times a power of ten that is at least
    ``largest`` (a whole amount, at least 1): the axis's round top, which leaves at most a
    third of the drawing empty above the tallest column."""
    magnitude = 1
    while True:
        for step in (10, 20, 25, 30, 40, 50, 60, 80):
            if largest * 10 <= step * magnitude:
                return max(step * magnitude // 10, 1)
        magnitude *= 10


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def stacked_columns(
    columns: Sequence[Column],
    *,
    element_id: str,
    title: str,
    desc: str,
    amount: Callable[[int], str],
) -> Chart:
    """Columns of stacked bars, one a column, over a baseline and a middle and top line.
    ``amount`` writes an amount for the bars' tooltips."""
    largest = max((sum(s.amount for s in c.segments) for c in columns), default=0)
    top = nice_top(max(largest, 1))
    width = len(columns) * _COLUMN
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {_HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-labelledby="{element_id}-title" aria-describedby="{element_id}-desc" '
        'focusable="false">',
        f'<title id="{element_id}-title">{escape(title)}</title>',
        f'<desc id="{element_id}-desc">{escape(desc)}</desc>',
    ]
    for y, name in ((0, "grid"), (_HEIGHT / 2, "grid"), (_HEIGHT, "axis")):
        parts.append(
            f'<line class="{name}" x1="0" x2="{width}" y1="{_number(y)}" y2="{_number(y)}" '
            'vector-effect="non-scaling-stroke"/>'
        )
    for n, column in enumerate(columns):
        x = n * _COLUMN + (_COLUMN - _BAR) / 2
        base = float(_HEIGHT)
        for segment in column.segments:
            if segment.amount <= 0:
                continue
            height = max(segment.amount * _HEIGHT / top, _LEAST)
            y = max(base - height, 0.0)
            tip = f"{column.label}, {segment.label}: {amount(segment.amount)}"
            parts.append(
                f'<rect class="s{segment.series}" x="{_number(x)}" y="{_number(y)}" '
                f'width="{_BAR}" height="{_number(base - y)}"><title>{escape(tip)}</title></rect>'
            )
            base = y
    parts.append("</svg>")
    return Chart(Markup("".join(parts)), top)  # noqa: S704 (every text in it is escaped)


def bar(amount: int, largest: int, series: int) -> Markup:
    """A row's share of the largest row, as a bar to set beside its figure (hidden from screen
    readers, which read the figure)."""
    share = 0.0 if largest <= 0 else max(amount * 100 / largest, 1.0 if amount > 0 else 0.0)
    return Markup(  # noqa: S704 (numbers only)
        '<svg class="share-bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" '
        f'focusable="false"><rect class="s{int(series)}" width="{_number(share)}" '
        'height="10" rx="1"/></svg>'
    )
