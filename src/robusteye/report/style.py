"""House style for report figures: one colour per variant, bands for ±1 std, atomic PNG saves.

Figures are built with matplotlib's object API (`matplotlib.figure.Figure`, drawn by the Agg
renderer when saved) rather than pyplot: nothing is registered globally, so there is no backend
to switch and no figure left open, and style settings apply only inside `house_style()`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, rc_context, rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from robusteye.io import atomic_path
from robusteye.results import CellRow

DPI = 110
STYLE: dict[Any, Any] = {  # keys: matplotlib rc names
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.titlesize": 11,
    "savefig.dpi": DPI,
}


@dataclass(frozen=True)
class FigureFile:
    """A written figure: its PNG path, a title for the report and the figure itself (laid out
    as it was saved, for checks of its layout)."""

    path: Path
    title: str
    figure: Figure | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Variants:
    """Cell rows grouped by variant (in run order), with one colour per variant."""

    cells: dict[str, list[CellRow]]
    colors: dict[str, Any]

    @classmethod
    def from_groups(cls, groups: dict[str, list[CellRow]]) -> Variants:
        return cls(groups, palette(list(groups)))

    def label(self, variant: str) -> str:
        return self.cells[variant][0].label or variant

    def model(self, variant: str) -> str:
        return self.cells[variant][0].model

    def kind(self, variant: str) -> str:
        """The regime kind: standard, augment, adversarial, ..."""
        return self.cells[variant][0].regime_kind

    def model_title(self, model: str) -> str:
        """The model part of the label of the model's first variant."""
        first = next(v for v in self.cells if self.model(v) == model)
        return model_label(self.label(first), model)

    def by_model(self) -> dict[str, list[str]]:
        """Variant names per model, in run order."""
        out: dict[str, list[str]] = {}
        for v in self.cells:
            out.setdefault(self.model(v), []).append(v)
        return out


@contextmanager
def house_style() -> Iterator[None]:
    """Apply the report's matplotlib settings for the duration of the block only."""
    with rc_context(STYLE):
        yield


def palette(variants: Sequence[str]) -> dict[str, Any]:
    """A fixed colour per variant: the 10 strong tab20 colours first, then their light twins."""
    cmap = colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]  # tab20's even entries are tab10's colours
    return {v: cmap(order[i % 20]) for i, v in enumerate(variants)}


def figure_legend(
    fig: Figure, vs: Variants, variants: Sequence[str], *, dashed: str | None = None
) -> None:
    """One legend for the whole figure, below the panels: a coloured line per variant."""
    handles: list[Any] = [Line2D([], [], color=vs.colors[v]) for v in variants]
    labels = [wrap(vs.label(v), 34) for v in variants]
    if dashed:
        handles.append(Line2D([], [], color="0.3", linestyle="--"))
        labels.append(dashed)
    bottom_legend(fig, handles, labels)


#: an average glyph's width and a legend entry's handle and padding, in inches, at 7.5 pt
_GLYPH_IN = 0.55 * 7.5 / 72
_HANDLE_IN = 0.55
_LINE_IN = 1.45 * 7.5 / 72


def bottom_legend(
    fig: Figure, handles: Sequence[Any], labels: Sequence[str], *, title: str | None = None
) -> None:
    """A figure legend below the panels, in as many columns as the figure's width holds.

    Below, not beside: a legend to the right of one narrow panel squeezes the panel and
    reaches up into the figure's title."""
    widest = max((len(line) for label in labels for line in label.splitlines()), default=1)
    fits = int(0.95 * fig.get_figwidth() / (widest * _GLYPH_IN + _HANDLE_IN))
    ncols = max(1, min(len(labels), fits))
    lines = [label.count("\n") + 1 for label in labels]
    rows = sum(max(lines[i : i + ncols]) for i in range(0, len(lines), ncols))
    # the figure grows by the legend's height, so the panels keep theirs
    fig.set_figheight(fig.get_figheight() + 0.3 + _LINE_IN * (rows + (title is not None)))
    fig.legend(list(handles), list(labels), loc="outside lower center", frameon=False,
               fontsize=7.5, ncols=ncols, title=title)  # fmt: skip


def new_figure(
    nrows: int, ncols: int, *, panel: tuple[float, float] = (3.6, 3.0)
) -> tuple[Figure, np.ndarray]:
    """A figure with an `nrows` x `ncols` array of axes, each about `panel` inches."""
    fig = Figure(figsize=(panel[0] * ncols, panel[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig: Figure, path: Path, title: str) -> FigureFile:
    """Write `fig` as a PNG at `path` atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return FigureFile(path, title, fig)


def suptitle(fig: Figure, text: str) -> None:
    """The figure's title, wrapped to the figure's width so a one-panel figure keeps it whole."""
    fig.suptitle(fit(text, fig.get_figwidth(), rcParams["figure.titlesize"]))


def panel_title(ax: Axes, text: str, *, fontsize: float | None = None) -> None:
    """A panel's title, wrapped to the panel's width (as laid out when the figure was made)."""
    fig = ax.figure
    assert isinstance(fig, Figure)  # report figures have no subfigures
    width = ax.get_position().width * fig.get_figwidth()
    title = ax.set_title(fit(text, width, fontsize or rcParams["axes.titlesize"]))
    if fontsize is not None:
        title.set_fontsize(fontsize)


def fit(text: str, inches: float, size: Any) -> str:
    """`text` wrapped to lines about `inches` wide in a font of `size` points."""
    points = float(size) if isinstance(size, (int, float)) else 11.0  # "large": about 11 pt
    per_inch = 72.0 / (0.6 * points)  # an average glyph is about 0.6 em wide
    return wrap(text, max(16, int(0.9 * inches * per_inch)))


def band(
    ax: Axes,
    x: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    *,
    color: Any,
    label: str | None = None,
    bounds: tuple[float, float] = (-np.inf, np.inf),
    **line: Any,
) -> None:
    """A mean line with a shaded ±1 std band clipped to `bounds` (NaN points are left out)."""
    ax.plot(x, mean, color=color, label=label, **line)
    low, high = np.clip(mean - std, *bounds), np.clip(mean + std, *bounds)
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)


def short_label(label: str) -> str:
    """The part of a variant label after the model ('WRN-16-1 · standard' -> 'standard')."""
    return label.split(" · ", 1)[1] if " · " in label else label


def model_label(label: str, fallback: str) -> str:
    """The model part of a variant label ('WRN-16-1 · standard' -> 'WRN-16-1')."""
    return label.split(" · ", 1)[0] if " · " in label else fallback


def wrap(text: str, width: int = 24) -> str:
    """Wrap long tick labels onto several lines."""
    return "\n".join(textwrap.wrap(text, width)) or text


def mean_std(rows: Sequence[Sequence[float | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Column-wise mean and std (ddof 0) of ragged rows, ignoring None / NaN entries."""
    width = max((len(r) for r in rows), default=0)
    arr = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        arr[i, : len(r)] = [np.nan if v is None else v for v in r]
    counts = np.sum(np.isfinite(arr), axis=0)
    total = np.nansum(arr, axis=0)
    mean = np.divide(total, counts, out=np.full(width, np.nan), where=counts > 0)
    sq = np.nansum((arr - mean) ** 2, axis=0)
    std = np.sqrt(np.divide(sq, counts, out=np.full(width, np.nan), where=counts > 0))
    return mean, std
