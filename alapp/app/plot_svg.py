"""Learning curves as a standalone SVG (no plotting library needed, opens in any browser)."""

from __future__ import annotations

from html import escape
from typing import Any

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def learning_curves_svg(result: dict[str, Any], title: str, width: int = 760,
                        height: int = 440) -> str:
    left, right, top, bottom = 60, 230, 40, 50
    series = result["strategies"]
    xs = [x for s in series.values() for x in s["spent"]]
    lows = [m - c for s in series.values()
            for m, c in zip(s["accuracy_mean"], s["accuracy_ci95"], strict=True)]
    highs = [m + c for s in series.values()
             for m, c in zip(s["accuracy_mean"], s["accuracy_ci95"], strict=True)]
    x0, x1 = min(xs), max(xs)
    y0 = max(0.0, min(lows) - 0.02)
    y1 = min(1.0, max([*highs, result["full_pool"]["accuracy"]]) + 0.02)

    def px(x: float) -> float:
        return float(left + (x - x0) / max(x1 - x0, 1e-9) * (width - left - right))

    def py(y: float) -> float:
        return float(top + (1 - (y - y0) / max(y1 - y0, 1e-9)) * (height - top - bottom))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="22" font-size="15">{escape(title)}</text>']
    for i in range(6):
        y = y0 + (y1 - y0) * i / 5
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(y):.1f}" '
                     f'y2="{py(y):.1f}" stroke="#ddd"/>'
                     f'<text x="{left - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 18}" '
                     f'text-anchor="middle">{x:.0f}</text>')
    parts.append(f'<text x="{(left + width - right) / 2}" y="{height - 12}" '
                 f'text-anchor="middle">labels (or cost spent)</text>')
    full = result["full_pool"]["accuracy"]
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{py(full):.1f}" '
                 f'y2="{py(full):.1f}" stroke="#555" stroke-dasharray="5,4"/>'
                 f'<text x="{left + 6}" y="{py(full) - 5:.1f}" fill="#555">full pool '
                 f'{full:.3f}</text>')
    for i, (name, s) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        upper = [(px(x), py(m + c)) for x, m, c in zip(s["spent"], s["accuracy_mean"],
                                                         s["accuracy_ci95"], strict=True)]
        lower = [(px(x), py(m - c)) for x, m, c in zip(s["spent"], s["accuracy_mean"],
                                                         s["accuracy_ci95"], strict=True)]
        band = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
        line = " ".join(f"{px(x):.1f},{py(m):.1f}" for x, m in zip(s["spent"],
                                                                     s["accuracy_mean"],
                                                                     strict=True))
        parts.append(f'<polygon points="{band}" fill="{color}" opacity="0.15"/>'
                     f'<polyline points="{line}" fill="none" stroke="{color}" '
                     f'stroke-width="2"/>')
        ly = top + 30 + 18 * i
        parts.append(f'<line x1="{width - right + 8}" x2="{width - right + 28}" y1="{ly}" '
                     f'y2="{ly}" stroke="{color}" stroke-width="3"/><text '
                     f'x="{width - right + 34}" y="{ly + 4}">{escape(name)} '
                     f'({s["aulc_accuracy"]:.3f})</text>')
    parts.append("</svg>")
    return "\n".join(parts)
