"""Small inline-SVG charts for the report pages (no library, no external asset): line charts on [0, 1] x [0, 1]
(ROC, precision-recall, calibration) and bar histograms.

Every series is one ``<polyline class="series" data-series=NAME points="x,y ...">`` whose points are in data
units scaled by 1000 (so a page can be checked against the numbers it was drawn from); markers are
``<circle class="marker" data-label=...>``.
"""
import html
from typing import Dict, List, Optional, Sequence, Tuple

COLORS = {"candidate": "#1f6fb2", "baseline": "#d9822b"}
SCALE = 1000  # data units -> SVG units inside the plot area
_PAD = 0.12  # of the plot size, for axes and labels


def _thin(points: Sequence[Tuple[float, float]], at_most: int = 200) -> List[Tuple[float, float]]:
    """At most ``at_most`` points, first and last kept (TFMA writes ~100-1000 thresholds per curve)."""
    points = list(points)
    if len(points) <= at_most:
        return points
    step = (len(points) - 1) / (at_most - 1)
    return [points[round(i * step)] for i in range(at_most)]


def line_chart(series: Dict[str, Sequence[Tuple[float, float]]], title: str, x_label: str, y_label: str,
               markers: Sequence[Dict] = (), diagonal: bool = False, width: int = 300, subtitle: str = "",
               legend_at: str = "bottom-right") -> str:
    """Lines on the unit square (y up). ``series``: {name: [(x, y)]}; ``markers``: [{"x", "y", "label",
    "series"}], drawn as circles with the label as tooltip; ``legend_at``: a corner of the plot
    ("top-left", "top-right", "bottom-right") where the curves leave room for the series names."""
    pad = _PAD * SCALE
    size = SCALE + 2 * pad
    to_svg = lambda x, y: (pad + x * SCALE, pad + (1 - y) * SCALE)  # noqa: E731
    parts = [f'<svg class="chart" viewBox="0 0 {size:.0f} {size:.0f}" width="{width}" height="{width}" '
             f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="44" role="img" '
             f'aria-label="{html.escape(title)}"><title>{html.escape(" ".join([title, subtitle]).strip())}</title>',
             f'<rect x="{pad}" y="{pad}" width="{SCALE}" height="{SCALE}" fill="#fff" stroke="#999"/>']
    for tick in (0.25, 0.5, 0.75):
        x, y = to_svg(tick, tick)
        parts.append(f'<line x1="{x}" y1="{pad}" x2="{x}" y2="{pad + SCALE}" stroke="#eee"/>'
                     f'<line x1="{pad}" y1="{y}" x2="{pad + SCALE}" y2="{y}" stroke="#eee"/>')
    for tick in (0, 0.5, 1):
        x, y = to_svg(tick, tick)
        parts.append(f'<text x="{x}" y="{pad + SCALE + 50}" text-anchor="middle">{tick:g}</text>'
                     f'<text x="{pad - 12}" y="{y + 15}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="{pad + SCALE / 2}" y="{size - 8}" text-anchor="middle">{html.escape(x_label)}</text>'
                 f'<text transform="translate(36 {pad + SCALE / 2}) rotate(-90)" text-anchor="middle">'
                 f'{html.escape(y_label)}</text>'
                 f'<text x="{pad}" y="{pad - 62}" font-weight="bold">{html.escape(title)}</text>'
                 f'<text x="{pad}" y="{pad - 16}" font-size="38">{html.escape(subtitle)}</text>')
    if diagonal:
        (x0, y0), (x1, y1) = to_svg(0, 0), to_svg(1, 1)
        parts.append(f'<line class="diagonal" x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="#aaa" '
                     f'stroke-dasharray="20 14"/>')
    top = legend_at.startswith("top")
    legend_x, anchor = (pad + 20, "start") if legend_at.endswith("left") else (pad + SCALE - 20, "end")
    legend_y = pad + 50 if top else pad + SCALE - 30 - 50 * (len(series) - 1)
    for name, points in series.items():
        color = COLORS.get(name, "#555")
        coords = " ".join(f"{x * SCALE:.1f},{(1 - y) * SCALE:.1f}" for x, y in _thin(points))
        parts.append(f'<polyline class="series" data-series="{html.escape(name)}" points="{coords}" '
                     f'transform="translate({pad} {pad})" fill="none" stroke="{color}" stroke-width="8"/>')
        parts.append(f'<text x="{legend_x}" y="{legend_y}" text-anchor="{anchor}" fill="{color}" '
                     f'font-weight="bold">{html.escape(name)}</text>')
        legend_y += 50
    for marker in markers:
        x, y = to_svg(marker["x"], marker["y"])
        color = COLORS.get(marker.get("series", ""), "#c00")
        label = html.escape(marker["label"])
        parts.append(f'<circle class="marker" data-label="{label}" cx="{x:.1f}" cy="{y:.1f}" r="16" '
                     f'fill="{color}" stroke="#000" stroke-width="4"><title>{label}</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def bars(counts: Sequence[float], width: int = 160, height: int = 28, title: Optional[str] = None) -> str:
    """A bar per count, scaled to the largest ('' when every count is 0)."""
    counts = list(counts)
    if not counts or max(counts) <= 0:
        return ""
    bar = width / len(counts)
    top = max(counts)
    rects = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - height * c / top:.1f}' width='{max(bar - 1, 1):.1f}' "
        f"height='{height * c / top:.1f}' fill='#4a7'/>" for i, c in enumerate(counts))
    tip = f"<title>{html.escape(title)}</title>" if title else ""
    return f"<svg width='{width}' height='{height}'>{tip}{rects}</svg>"
