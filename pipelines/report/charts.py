"""Inline SVG charts: the report draws its own, so it renders with no script and no network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# One colour per quality dimension, in the order of ``DIMENSIONS`` (colour-blind safe palette).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")


def line_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float | None]], height: int = 180
) -> str:
    """A line chart of pass rates (0 to 1) over batches.

    Args:
        title: Accessible title (also the ``aria-label``).
        labels: One label per point on the x axis (batch time).
        series: Name → one value (or None) per label.
        height: Height in pixels.

    Returns:
        An ``<svg>`` element with class ``trend-chart``.
    """
    width, left, right, top, bottom = 560, 44, 120, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(labels) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + (1 - value) * plot_h

    parts = [
        f'<svg class="trend-chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in (0.0, 0.5, 0.9, 1.0):
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'class="grid"/><text x="{left - 4}" y="{y(tick) + 4:.1f}" class="axis" '
            f'text-anchor="end">{tick:.0%}</text>'
        )
    for i, label in enumerate(labels):
        if i in (0, len(labels) - 1):
            anchor = "start" if i == 0 and len(labels) > 1 else "end"
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - 8}" class="axis" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
    for n, (name, values) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [(x(i), y(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>' for px, py in points]
        legend_y = top + 12 + n * 16
        parts.append(
            f'<rect x="{left + plot_w + 10}" y="{legend_y - 9}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 24}" y="{legend_y}" class="legend">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, bars: Sequence[tuple[str, int]], height: int = 160) -> str:
    """A vertical bar chart of counts.

    Args:
        title: Accessible title.
        bars: ``(label, count)`` pairs.
        height: Height in pixels.

    Returns:
        An ``<svg>`` element with class ``bar-chart``.
    """
    width, left, top, bottom = 420, 10, 18, 24
    plot_h = height - top - bottom
    slot = (width - 2 * left) / max(len(bars), 1)
    peak = max((count for _, count in bars), default=0) or 1
    parts = [
        f'<svg class="bar-chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, count) in enumerate(bars):
        bar_h = count / peak * plot_h
        x0 = left + i * slot + slot * 0.15
        y0 = top + plot_h - bar_h
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{slot * 0.7:.1f}" height="{bar_h:.1f}" '
            f'fill="{PALETTE[0]}"/><text x="{x0 + slot * 0.35:.1f}" y="{y0 - 4:.1f}" '
            f'class="axis" text-anchor="middle">{count}</text><text x="{x0 + slot * 0.35:.1f}" '
            f'y="{height - 8}" class="axis" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
