"""Line, bar and stacked-bar charts as SVG text, drawn on the server: no script, no inline style.

Why hand-drawn: three chart shapes do not need a JavaScript library, and the Content-Security-Policy forbids
inline scripts and style attributes. Colours and fonts come from classes (`chart`, `series-N`, `axis`, `mark`)
styled in console.css. Every data point is one element of class `mark` with its own `<title>` (the value a
screen reader or a hover reads); every label is escaped; the table beside each chart carries the same
numbers for anyone who cannot see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 28, 36
SERIES_CLASSES = 6
Series = tuple[str, Sequence[float | None]]


def _scale(top: float) -> float:
    """A round axis maximum at or above `top` (1, 2, 2.5, 5 x a power of ten)."""
    if top <= 0:
        return 1.0
    power = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= top:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    """A whole number as is; otherwise up to two decimals (a gridline at 1.25 is not "1.2")."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0")


def _frame(chart_id: str, title: str, top: float, body: list[str], legend: Sequence[str]) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
             f' aria-labelledby="{escape(chart_id)}-title" id="{escape(chart_id)}">',
             f'<title id="{escape(chart_id)}-title">{escape(title)}</title>']
    for k in range(5):  # gridlines and their values
        y = TOP + plot_h - plot_h * k / 4
        parts.append(f'<line class="chart-grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(top * k / 4)}</text>')
    parts += body
    for i, name in enumerate(legend):
        x = LEFT + i * 140
        parts.append(f'<rect class="legend series-{i % SERIES_CLASSES}" x="{x}" y="6" width="10" height="10"/>')
        parts.append(f'<text class="legend-label" x="{x + 14}" y="15">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _x_labels(labels: Sequence[str], centres: Sequence[float]) -> list[str]:
    step = max(1, len(labels) // 12)  # at most about twelve labels under the axis
    return [f'<text class="axis" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">{escape(label)}</text>'
            for i, (label, x) in enumerate(zip(labels, centres, strict=True)) if i % step == 0]


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * max(value, 0) / top


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> Markup:
    """One bar per label."""
    top = _scale(max(values, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body, centres = [], []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x, y = LEFT + i * slot + slot * 0.15, _y(value, top)
        centres.append(LEFT + i * slot + slot / 2)
        body.append(f'<rect class="mark series-0" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}"'
                    f' height="{_y(0, top) - y:.1f}"><title>{escape(label)}: {_fmt(value)}</title></rect>')
    return _frame(chart_id, title, top, body + _x_labels(labels, centres), [])


def stacked_bar_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One bar per label, one segment per series stacked from the bottom (a missing value stacks nothing)."""
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(labels))]
    top = _scale(max(totals, default=0))
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    body, centres = [], []
    for i, label in enumerate(labels):
        x, base = LEFT + i * slot + slot * 0.15, 0.0
        centres.append(LEFT + i * slot + slot / 2)
        for k, (name, values) in enumerate(series):
            value = float(values[i] or 0)
            y_top, y_base = _y(base + value, top), _y(base, top)
            body.append(f'<rect class="mark series-{k % SERIES_CLASSES}" x="{x:.1f}" y="{y_top:.1f}"'
                        f' width="{slot * 0.7:.1f}" height="{y_base - y_top:.1f}"><title>{escape(label)},'
                        f' {escape(name)}: {_fmt(value)}</title></rect>')
            base += value
    return _frame(chart_id, title, top, body + _x_labels(labels, centres), [name for name, _ in series])


def line_chart(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One line per series through its points (a missing value breaks the line); a dot marks each point."""
    top = _scale(max((float(v) for _, vs in series for v in vs if v is not None), default=0))
    n = max(len(labels), 1)
    step = (WIDTH - LEFT - RIGHT) / max(n - 1, 1)
    centres = [LEFT + i * step if n > 1 else (WIDTH + LEFT - RIGHT) / 2 for i in range(len(labels))]
    body: list[str] = []
    for k, (name, values) in enumerate(series):
        cls = f"series-{k % SERIES_CLASSES}"
        runs: list[list[str]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{centres[i]:.1f},{_y(float(value), top):.1f}")
        body += [f'<polyline class="line {cls}" points="{" ".join(r)}"/>' for r in runs if len(r) > 1]
        body += [f'<circle class="mark {cls}" cx="{centres[i]:.1f}" cy="{_y(float(v), top):.1f}" r="3.5">'
                 f'<title>{escape(name)}, {escape(labels[i])}: {_fmt(float(v))}</title></circle>'
                 for i, v in enumerate(values) if v is not None]
    return _frame(chart_id, title, top, body + _x_labels(labels, centres), [name for name, _ in series])
