"""The account page's SVG (server/web/chart.py): bars in proportion, stacked, labelled for screen
readers, escaped, and nothing a strict Content-Security-Policy would block."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from modelgates.server.web.chart import Column, Segment, bar, nice_top, stacked_columns

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    # The page inlines the SVG in HTML, where it needs no namespace; parsed as XML, it does.
    xml = str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1)
    return ET.fromstring(xml)  # noqa: S314 (our own markup)


def drawn(columns: list[Column]) -> tuple[ET.Element, int]:
    chart = stacked_columns(
        columns, element_id="c", title="Spend <per> day", desc="A & B", amount=lambda m: f"{m}µ$"
    )
    return parse(chart.svg), chart.top


@pytest.mark.parametrize(
    ("largest", "top"),
    [
        (1, 1),
        (2, 2),
        (3, 3),
        (7, 8),
        (9, 10),
        (11, 20),
        (21, 25),
        (26, 30),
        (31, 40),
        (81, 100),
        (234_568, 250_000),
    ],
)
def test_the_top_is_a_round_amount_at_least_the_largest(largest: int, top: int) -> None:
    assert nice_top(largest) == top


def test_bars_are_stacked_in_proportion_to_their_amounts() -> None:
    root, top = drawn(
        [
            Column("1 Mar", [Segment(0, 60, "Mail"), Segment(1, 40, "Notes")]),
            Column("2 Mar", []),
            Column("3 Mar", [Segment(1, 25, "Notes")]),
        ]
    )
    assert top == 100
    assert root.get("viewBox") == "0 0 30 100"
    rects = root.findall(f"{SVG}rect")
    geometry = [
        (r.get("class"), float(r.get("x", "")), float(r.get("y", "")), float(r.get("height", "")))
        for r in rects
    ]
    assert geometry == [("s0", 1.5, 40, 60), ("s1", 1.5, 0, 40), ("s1", 21.5, 75, 25)]
    assert [r.findtext(f"{SVG}title") for r in rects] == [
        "1 Mar, Mail: 60µ$",
        "1 Mar, Notes: 40µ$",
        "3 Mar, Notes: 25µ$",
    ]


def test_the_chart_is_named_for_screen_readers_and_its_text_escaped() -> None:
    root, _top = drawn([Column("<b>", [Segment(0, 5, "O'Brien & <Co>")])])
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title"
    assert root.get("aria-describedby") == "c-desc"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None and title.get("id") == "c-title" and title.text == "Spend <per> day"
    assert desc is not None and desc.get("id") == "c-desc" and desc.text == "A & B"
    assert root.findtext(f"{SVG}rect/{SVG}title") == "<b>, O'Brien & <Co>: 5µ$"


def test_the_smallest_spend_beside_a_large_one_is_still_seen() -> None:
    root, _top = drawn(
        [Column("a", [Segment(0, 1_000_000, "big")]), Column("b", [Segment(0, 1, "tiny")])]
    )
    heights = [float(r.get("height", "")) for r in root.findall(f"{SVG}rect")]
    assert heights[0] == 100 and 0.5 <= heights[1] < 1


def test_no_spend_draws_the_axes_alone() -> None:
    root, top = drawn([Column("a", []), Column("b", [Segment(0, 0, "none")])])
    assert top == 1 and root.findall(f"{SVG}rect") == []
    assert len(root.findall(f"{SVG}line")) == 3


def test_nothing_a_strict_policy_blocks() -> None:
    chart = stacked_columns(
        [Column("a", [Segment(3, 7, "x")])], element_id="c", title="t", desc="d", amount=str
    )
    for markup in (chart.svg, bar(5, 10, 2)):
        assert "style" not in markup and "<script" not in markup and "href" not in markup


def test_a_bar_is_its_share_of_the_largest() -> None:
    widths = [parse(bar(amount, 200, 4)).find(f"{SVG}rect") for amount in (200, 50, 1, 0)]
    assert [w.get("width") for w in widths if w is not None] == ["100", "25", "1", "0"]
    assert parse(bar(1, 200, 4)).get("aria-hidden") == "true"
    assert "s4" in bar(1, 200, 4)
