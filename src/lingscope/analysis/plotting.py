"""Figures: made without pyplot on the Agg canvas, saved as PNG and SVG, byte for byte reproducible.

Going through :class:`matplotlib.figure.Figure` rather than pyplot keeps no global figure
state and never touches a display, so the same code runs on a laptop, in a SLURM job and
in pytest.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything can pick an interactive backend

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from lingscope.core.io import atomic_path  # noqa: E402

_STYLE = {
    # SVG element ids are random unless salted; a fixed salt makes reruns identical.
    "svg.hashsalt": "lingscope",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches drawn by the Agg canvas."""
    with matplotlib.rc_context(_STYLE):
        fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def svg_path(png_path: str | Path) -> Path:
    """The SVG written beside ``png_path``: same folder, same stem."""
    return Path(png_path).with_suffix(".svg")


def save_figure(fig: Figure, png_path: str | Path, dpi: int = 150) -> tuple[Path, Path]:
    """Write ``fig`` to ``png_path`` and to the SVG beside it, each atomically; return both paths.

    Creation dates are left out of the metadata so that the same inputs give the same bytes.
    """
    png_path = Path(png_path)
    svg = svg_path(png_path)
    with matplotlib.rc_context(_STYLE):
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
        with atomic_path(svg) as tmp:
            fig.savefig(tmp, format="svg", metadata={"Date": None})
    return png_path, svg


def boxplot(ax, groups: list, positions, width: float, colour: str, label: str | None = None) -> None:
    """Boxes (quartiles, median, whiskers at 1.5 IQR) without outlier points.

    Outliers are left out because tens of thousands of them per label would bury the boxes
    and bloat the SVG; the quartiles are in the table behind each figure.
    """
    parts = ax.boxplot(groups, positions=positions, widths=width, showfliers=False, patch_artist=True,
                       manage_ticks=False)
    for box in parts["boxes"]:
        box.set(facecolor=colour, alpha=0.6, edgecolor="black", linewidth=0.6)
    for line in parts["medians"]:
        line.set(color="black", linewidth=1.0)
    for key in ("whiskers", "caps"):
        for line in parts[key]:
            line.set(color="black", linewidth=0.6)
    if label is not None:
        parts["boxes"][0].set_label(label)
