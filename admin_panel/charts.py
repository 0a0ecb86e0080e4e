"""Small bar charts as inline SVG, drawn on the server (no JavaScript, nothing fetched)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 420, 120, 18


def bar_chart(title: str, days: Sequence[dt.date], values: Sequence[int], colour: str = "#2f6db5") -> Markup:
    """One bar per day; each bar has a tooltip (``<title>``) and the chart an accessible name and summary."""
    peak = max(values, default=0) or 1
    slot = (WIDTH - 2 * PAD) / max(len(values), 1)
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        height = (HEIGHT - 2 * PAD) * value / peak
        x = PAD + index * slot
        y = HEIGHT - PAD - height
        bars.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" height="{height:.1f}" fill="{colour}">'
            f"<title>{day.isoformat()}: {value}</title></rect>"
        )
    total = sum(values)
    first = days[0].strftime("%d %b") if days else ""
    last = days[-1].strftime("%d %b") if days else ""
    label = f"{title}: {total} in {len(values)} days, at most {max(values, default=0)} a day"
    svg = (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="{PAD}" y="{HEIGHT - 4}" font-size="10" fill="#444">{first}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" font-size="10" fill="#444" text-anchor="end">{last}</text>'
        f'<text x="{PAD}" y="12" font-size="10" fill="#444">max {max(values, default=0)}</text>'
        + "".join(bars)
        + "</svg>"
    )
    return Markup(svg)
