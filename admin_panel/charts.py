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


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.1f} min"


def line_chart(
    title: str, days: Sequence[dt.date], lines: Sequence[tuple[str, Sequence[float | None], str, bool]]
) -> Markup:
    """Lines of seconds per day, e.g. p50 and p95 of a latency: ``lines`` are (label, values, colour, dashed).
    A day without a value (None: no samples) breaks its line; each point has a tooltip, the chart an accessible
    name with each line's worst day, and a key."""
    values = [v for _, series, _, _ in lines for v in series if v is not None]
    peak = max(values, default=0.0) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(days) - 1, 1)

    top = 2 * PAD  # the key and the "max" label sit above the lines, never on a point

    def point(index: int, value: float) -> tuple[float, float]:
        return PAD + index * slot, HEIGHT - PAD - (HEIGHT - PAD - top) * value / peak

    parts, key, summary = [], [], []
    for n, (label, series, colour, dashed) in enumerate(lines):
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        run: list[str] = []
        for index, value in enumerate([*series, None]):
            if value is None:
                if len(run) > 1:
                    parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                                 f'stroke-width="2"{dash}/>')  # fmt: skip
                run = []
                continue
            x, y = point(index, value)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"><title>{days[index].isoformat()} '
                         f"{escape(label)}: {_seconds(value)}</title></circle>")  # fmt: skip
        known = [v for v in series if v is not None]
        summary.append(f"{label} at most {_seconds(max(known))}" if known else f"{label} no samples")
        x = WIDTH - PAD - 110 + 56 * n  # one row: ── p50   - - p95
        key.append(f'<line x1="{x}" y1="9" x2="{x + 16}" y2="9" stroke="{colour}" stroke-width="2"{dash}/>'
                   f'<text x="{x + 20}" y="12" font-size="10" fill="#444">{escape(label)}</text>')  # fmt: skip
    first = days[0].strftime("%d %b") if days else ""
    last = days[-1].strftime("%d %b") if days else ""
    label = f"{title} over {len(days)} days: " + "; ".join(summary)
    svg = (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="{PAD}" y="{HEIGHT - 4}" font-size="10" fill="#444">{first}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 4}" font-size="10" fill="#444" text-anchor="end">{last}</text>'
        f'<text x="{PAD}" y="12" font-size="10" fill="#444">max {_seconds(max(values, default=0.0))}</text>'
        + "".join(parts)
        + "".join(key)
        + "</svg>"
    )
    return Markup(svg)
