"""Charts as inline SVG drawn on the server: no script, no stylesheet, no asset from anywhere.

Each function returns Markup holding one <svg> with a <title> (read by screen readers) and the
figures as text, so the chart still says what it shows without colours.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

COLOURS = ("#5b9bd5", "#f0ad4e", "#ec971f", "#d9534f", "#a94442")


def _num(value) -> float:
    return float(value or 0)


def bar_chart(items: Sequence[tuple[str, Decimal]], title: str, fmt: Callable = str,
              width: int = 640, bar_height: int = 26) -> Markup:
    """Horizontal bars, one per (label, value)."""
    top = max((_num(v) for _label, v in items), default=0) or 1
    label_w, value_w = 150, 120
    plot_w = width - label_w - value_w
    height = bar_height * len(items) + 10
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
              f'height="{height}" viewBox="0 0 {width} {height}" class="cd-chart">'),
             f"<title>{escape(title)}</title>"]
    for n, (label, value) in enumerate(items):
        y = 5 + n * bar_height
        w = max(_num(value) / top * plot_w, 0)
        colour = COLOURS[n % len(COLOURS)]
        parts.append(f'<text x="0" y="{y + bar_height * 0.65:.1f}" font-size="12" '
                     f'font-family="sans-serif">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                     f'height="{bar_height - 8}" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height * 0.65:.1f}" '
                     f'font-size="12" font-family="sans-serif">{escape(fmt(value))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(points: Sequence[tuple[str, Decimal | None]], title: str, fmt: Callable = str,
               width: int = 640, height: int = 220) -> Markup:
    """A line through (label, value) points; a None value leaves a gap."""
    left, right, top_pad, bottom = 50, 20, 20, 40
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    values = [_num(v) for _label, v in points if v is not None]
    top = max(values, default=0) or 1
    step = plot_w / max(len(points) - 1, 1)
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
              f'height="{height}" viewBox="0 0 {width} {height}" class="cd-chart">'),
             f"<title>{escape(title)}</title>",
             (f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" '
              f'y2="{top_pad + plot_h}" stroke="#999"/>'),
             (f'<text x="0" y="{top_pad + 4}" font-size="11" font-family="sans-serif">'
              f"{escape(fmt(top))}</text>")]
    path: list[str] = []
    for n, (label, value) in enumerate(points):
        x = left + n * step
        parts.append(f'<text x="{x:.1f}" y="{height - 22}" font-size="10" text-anchor="middle" '
                     f'font-family="sans-serif">{escape(label)}</text>')
        if value is None:
            if len(path) > 1:
                parts.append(f'<polyline fill="none" stroke="{COLOURS[0]}" stroke-width="2" '
                             f'points="{" ".join(path)}"/>')
            path = []
            continue
        y = top_pad + plot_h - _num(value) / top * plot_h
        path.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{COLOURS[0]}">'
                     f"<title>{escape(label)}: {escape(fmt(value))}</title></circle>")
    if len(path) > 1:
        parts.append(f'<polyline fill="none" stroke="{COLOURS[0]}" stroke-width="2" '
                     f'points="{" ".join(path)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
