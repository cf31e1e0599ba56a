"""Charts drawn on the server as inline SVG: no script, no inline style (the pages' CSP allows
neither), colours from the stylesheet's classes. Every element is built with ElementTree, which
escapes text and attributes, so crew and task names (anyone's) stay text. Each bar or day is a
group with a <title> saying its numbers, and data-* attributes with them as figures."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from inbox.review_stats import DayTimes

WIDTH = 640
LABEL_WIDTH = 230
VALUE_WIDTH = 130
ROW_HEIGHT = 30
BAR_HEIGHT = 18
PAD = 8
LABEL_CHARS = 30
DAY_CHART_HEIGHT = 230
AXIS_WIDTH = 60
DAY_FOOTER = 44
PLOT_TOP = 2 * PAD
PLOT_BOTTOM = DAY_CHART_HEIGHT - DAY_FOOTER
# Date labels under at most this many columns; the others say theirs in their title.
MAX_DAY_LABELS = 15


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    # Written at the bar's end.
    value_text: str
    # The bar's <title>: what a tooltip or a screen reader says.
    title: str


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def shortened_label(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: float) -> str:
    """A coordinate or figure as an attribute: no trailing zeros, no exponent."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def element(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(
        parent, tag, {name.rstrip("_").replace("_", "-"): v for name, v in attrs.items()}
    )
    child.text = text
    return child


def svg_root(title: str, width: int, height: int, css_class: str) -> ET.Element:
    root = ET.Element(
        "svg",
        {
            "class": f"chart {css_class}",
            "viewBox": f"0 0 {width} {height}",
            "width": str(width),
            "height": str(height),
            "role": "img",
        },
    )
    element(root, "title", title)
    return root


def as_markup(root: ET.Element) -> Markup:
    # Safe to mark: ElementTree escapes every text and attribute value it writes.
    return Markup(ET.tostring(root, encoding="unicode", short_empty_elements=True))


def bar_chart(title: str, bars: Sequence[Bar], css_class: str, top: float | None = None) -> Markup:
    """Horizontal bars, one row each, scaled to `top` (the largest value without one)."""
    root = svg_root(title, WIDTH, 2 * PAD + ROW_HEIGHT * len(bars), css_class)
    scale_top = top if top is not None else max((bar.value for bar in bars), default=0)
    for index, bar in enumerate(bars):
        share = bar.value / scale_top if scale_top > 0 else 0
        draw_bar(root, PAD + index * ROW_HEIGHT, bar, share)
    return as_markup(root)


def draw_bar(root: ET.Element, top: float, bar: Bar, share: float) -> None:
    """One row: the name, the track with the bar over `share` of it, the value's text."""
    track = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    middle = number(top + ROW_HEIGHT / 2)
    bar_top = number(top + (ROW_HEIGHT - BAR_HEIGHT) / 2)
    group = element(root, "g", class_="bar", data_label=bar.label, data_value=number(bar.value))
    element(group, "title", bar.title)
    element(
        group,
        "text",
        shortened_label(bar.label),
        class_="name",
        x=str(LABEL_WIDTH - PAD),
        y=middle,
        text_anchor="end",
        dominant_baseline="middle",
    )
    for css_class, width in (("track", track), ("fill", track * share)):
        element(
            group,
            "rect",
            class_=css_class,
            x=str(LABEL_WIDTH),
            y=bar_top,
            width=number(width),
            height=str(BAR_HEIGHT),
        )
    element(
        group,
        "text",
        bar.value_text,
        class_="value",
        x=number(LABEL_WIDTH + track + PAD),
        y=middle,
        dominant_baseline="middle",
    )


def day_title(day: DayTimes) -> str:
    if not day.decisions:
        return f"{day.day.isoformat()}: no decisions"
    noun = "decision" if day.decisions == 1 else "decisions"
    return (
        f"{day.day.isoformat()}: {day.decisions} {noun}, median "
        f"{duration_text(day.median_seconds)}, p90 {duration_text(day.p90_seconds)}"
    )


def day_label(day: date) -> str:
    return day.strftime("%m-%d")


def day_chart(title: str, days: Sequence[DayTimes]) -> Markup:
    """A column per day: the 90th percentile's column with the median's inside it, the day's
    decisions counted under it."""
    root = svg_root(title, WIDTH, DAY_CHART_HEIGHT, "days")
    top = max((d.p90_seconds or 0 for d in days), default=0)
    draw_axis(root, top)
    slot = (WIDTH - AXIS_WIDTH - PAD) / max(1, len(days))
    label_every = math.ceil(len(days) / MAX_DAY_LABELS)
    for index, day in enumerate(days):
        dated = index % label_every == 0 or index == len(days) - 1
        draw_day(root, AXIS_WIDTH + index * slot, slot, day, top, dated)
    return as_markup(root)


def draw_day(
    root: ET.Element, left: float, slot: float, day: DayTimes, top: float, dated: bool
) -> None:
    group = element(
        root,
        "g",
        class_="day",
        data_day=day.day.isoformat(),
        data_decisions=str(day.decisions),
        data_median=number(day.median_seconds or 0),
        data_p90=number(day.p90_seconds or 0),
    )
    element(group, "title", day_title(day))
    # The whole slot takes the pointer, so a day without decisions has a tooltip too.
    element(
        group,
        "rect",
        class_="slot",
        x=number(left),
        y=str(PLOT_TOP),
        width=number(slot),
        height=str(PLOT_BOTTOM - PLOT_TOP),
    )
    for css_class, seconds, share in (
        ("p90", day.p90_seconds, 0.64),
        ("median", day.median_seconds, 0.34),
    ):
        if seconds and top > 0:
            column = (PLOT_BOTTOM - PLOT_TOP) * seconds / top
            element(
                group,
                "rect",
                class_=css_class,
                x=number(left + slot * (1 - share) / 2),
                y=number(PLOT_BOTTOM - column),
                width=number(slot * share),
                height=number(column),
            )
    centre = number(left + slot / 2)
    if day.decisions:
        element(
            group,
            "text",
            str(day.decisions),
            class_="count",
            x=centre,
            y=str(PLOT_BOTTOM + 16),
            text_anchor="middle",
        )
    if dated:
        element(
            group,
            "text",
            day_label(day.day),
            class_="date",
            x=centre,
            y=str(PLOT_BOTTOM + 34),
            text_anchor="middle",
        )


def draw_axis(root: ET.Element, top: float) -> None:
    """The baseline, and a grid line with its duration at the top and halfway."""
    axis = element(root, "g", class_="axis")
    element(
        axis,
        "line",
        x1=str(AXIS_WIDTH),
        x2=str(WIDTH - PAD),
        y1=str(PLOT_BOTTOM),
        y2=str(PLOT_BOTTOM),
    )
    if top <= 0:
        return
    for share in (0.5, 1.0):
        y = number(PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * share)
        element(axis, "line", class_="grid", x1=str(AXIS_WIDTH), x2=str(WIDTH - PAD), y1=y, y2=y)
        element(
            axis,
            "text",
            duration_text(top * share),
            x=str(AXIS_WIDTH - 6),
            y=y,
            text_anchor="end",
            dominant_baseline="middle",
        )
