"""Charts as inline SVG, drawn on the server (no chart service, no script): the calibration
plot, ROC curves and the demand forecast. Each has a title and a description for screen
readers, and the page shows the same figures as a table."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 560, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 50
# GOV.UK colours with enough contrast on white, told apart by dash as well as colour.
STYLES = (
    ("#1d70b8", ""),
    ("#d4351c", "6 4"),
    ("#00703c", "2 3"),
    ("#4c2c92", "10 3 2 3"),
)


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    markers: bool = False


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / count
    return [low + step * i for i in range(count + 1)]


def line_chart(
    series: list[Series],
    *,
    title: str,
    description: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
    x_tick_labels: list[tuple[float, str]] | None = None,
    percent: bool = True,
) -> Markup:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    (x0, x1), (y0, y1) = x_range, y_range

    def sx(x: float) -> float:
        return LEFT + (x - x0) / ((x1 - x0) or 1) * plot_w

    def sy(y: float) -> float:
        return TOP + plot_h - (y - y0) / ((y1 - y0) or 1) * plot_h

    def shown(value: float) -> str:
        return f"{value:.0%}" if percent else f"{value:g}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} '
        f'{HEIGHT + 24 * len(series)}" width="100%" role="img" '
        f'aria-labelledby="{_id(title)}-t {_id(title)}-d" class="app-chart" '
        'font-family="sans-serif" font-size="13">',
        f'<title id="{_id(title)}-t">{escape(title)}</title>',
        f'<desc id="{_id(title)}-d">{escape(description)}</desc>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fff" '
        'stroke="#505a5f"/>',
    ]
    for value in _ticks(y0, y1):
        y = sy(value)
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                     'stroke="#b1b4b6" stroke-width="0.5"/>')  # fmt: skip
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#0b0c0c">'
                     f"{shown(value)}</text>")  # fmt: skip
    ticks = x_tick_labels or [(v, shown(v)) for v in _ticks(x0, x1)]
    for value, label in ticks:
        x = sx(value)
        parts.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" '
                     f'fill="#0b0c0c">{escape(label)}</text>')  # fmt: skip
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h + 38}" text-anchor="middle" '
                 f'fill="#0b0c0c">{escape(x_label)}</text>')  # fmt: skip
    parts.append(f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
                 f'text-anchor="middle" fill="#0b0c0c">{escape(y_label)}</text>')  # fmt: skip
    if diagonal:
        parts.append(f'<line x1="{sx(x0):.1f}" y1="{sy(y0):.1f}" x2="{sx(x1):.1f}" '
                     f'y2="{sy(y1):.1f}" stroke="#505a5f" stroke-dasharray="3 3"/>')  # fmt: skip
    for index, line in enumerate(series):
        colour, dash = STYLES[index % len(STYLES)]
        points = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line.points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                     f'stroke-width="2"{dashed}/>')  # fmt: skip
        if line.markers:
            for x, y in line.points:
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}"/>')
        key_y = HEIGHT + 12 + 24 * index
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + 30}" y1="{key_y}" y2="{key_y}" '
                     f'stroke="{colour}" stroke-width="2"{dashed}/>')  # fmt: skip
        parts.append(f'<text x="{LEFT + 38}" y="{key_y + 4}" fill="#0b0c0c">'
                     f"{escape(line.name)}</text>")  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))


def _id(text: str) -> str:
    return "chart-" + "".join(c if c.isalnum() else "-" for c in text.lower())[:40]


def calibration_plot(models: dict[str, dict]) -> Markup:
    top = max(
        [b["predicted"] for m in models.values() for b in m["calibration"]]
        + [b["observed"] for m in models.values() for b in m["calibration"]]
        + [0.1]
    )
    top = min(1.0, round(top + 0.05, 1))
    return line_chart(
        [
            Series(m["title"], [(b["predicted"], b["observed"]) for b in m["calibration"]], True)
            for m in models.values()
        ],  # fmt: skip
        title="Calibration on the test period",
        description="Observed rate of a new care package against the predicted risk, in tenths "
        "of the test spells by predicted risk; the dashed diagonal is perfect calibration.",
        x_label="Predicted risk",
        y_label="Observed rate",
        x_range=(0.0, top),
        y_range=(0.0, top),
        diagonal=True,
    )


def roc_plot(models: dict[str, dict]) -> Markup:
    return line_chart(
        [
            Series(f"{m['title']} (AUROC {m['auroc']:.3f})", [tuple(p) for p in m["roc"]])
            for m in models.values()
        ],  # fmt: skip
        title="ROC curves on the test period",
        description="True positive rate against false positive rate as the risk threshold "
        "falls; the dashed diagonal is chance.",
        x_label="False positive rate",
        y_label="True positive rate",
        diagonal=True,
    )


def forecast_plot(history: list[tuple[str, float]], ahead: list[tuple[str, float]]) -> Markup:
    points = [(float(i), v) for i, (_, v) in enumerate(history)]
    start = len(history) - 1
    future = [(float(start), history[-1][1])] if history else []
    future += [(float(start + 1 + i), v) for i, (_, v) in enumerate(ahead)]
    labels = [*(w for w, _ in history), *(w for w, _ in ahead)]
    top = max([v for _, v in history] + [v for _, v in ahead] + [5.0]) * 1.15
    step = max(1, len(labels) // 6)
    ticks = [(float(i), labels[i][5:]) for i in range(0, len(labels), step)]
    return line_chart(
        [
            Series("Discharges needing support (weekly, rounded to 5)", points),
            Series("Forecast", future, True),
        ],  # fmt: skip
        title="Weekly discharges needing support, county",
        description="Weekly discharges on pathways 1 to 3 across the county, rounded to the "
        "nearest 5 with 1 to 7 suppressed, and the forecast for the next six weeks.",
        x_label="Week ending",
        y_label="Discharges",
        x_range=(0.0, float(max(len(labels) - 1, 1))),
        y_range=(0.0, float(top)),
        x_tick_labels=ticks,
        percent=False,
    )
