"""The certificate figure of `robusteye certify`: certified accuracy as a function of the L2
radius (or of the SNR), with the audit's empirical robust accuracy above it at the sizes
asked for. The true robust accuracy lies in the band between the two."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch import Tensor

from robusteye.evaluate.certcheck import CertCheck
from robusteye.report.style import FigureFile, house_style, new_figure, save_figure


def certified_figure(
    check: CertCheck, images: Tensor, path: str | os.PathLike[str], *, title: str = ""
) -> FigureFile:
    """Certified accuracy against radius (radius mode) or SNR (SNR mode, stronger to the
    right), the asked-for points marked, and the audit's worst case at each."""
    result = check.result
    by_snr = result.points[0].snr_db is not None
    radii = result.radii.double().numpy()
    correct = result.correct.numpy()
    with house_style():
        fig, axes = new_figure(1, 1, panel=(5.2, 3.6))
        ax = axes[0, 0]
        if by_snr:
            # the SNR at which each point stops being certified (inf: never certified)
            norms = images.detach().double().flatten(1).norm(dim=1).numpy()
            snr_i = np.full_like(radii, np.inf)
            held = radii > 0
            snr_i[held] = 20 * np.log10(norms[held] / radii[held])
            xs = [float(p.snr_db) for p in result.points if p.snr_db is not None]
            grid = np.linspace(min(xs) - 5, max(xs) + 5, 200)
            curve = [float(np.mean(correct & (snr_i < s))) for s in grid]
            ax.invert_xaxis()
            ax.set_xlabel("SNR (dB); stronger →")
        else:
            xs = [p.radius for p in result.points]
            top = max([*xs, float(np.quantile(radii[correct], 0.9)) if correct.any() else 0])
            grid = np.linspace(0.0, max(top, 1e-6) * 1.2, 200)
            curve = [float(np.mean(correct & (radii > r))) for r in grid]
            ax.set_xlabel("L2 radius")
        ax.plot(grid, curve, color="C2", linewidth=2.0, label="certified (sound bound)")
        ax.plot(xs, [p.certified_accuracy for p in result.points], "o", color="C2", markersize=5)
        empirical = [(x, e) for x, e in zip(xs, check.empirical, strict=True) if e is not None]
        if empirical:
            ax.plot(
                [x for x, _ in empirical], [e for _, e in empirical], "s--", color="black",
                markersize=5, linewidth=1.0, label="audit worst case (empirical, L2)",
            )  # fmt: skip
        ax.axhline(result.clean_accuracy, color="grey", linewidth=0.8, linestyle=":")
        ax.set(ylim=(0, 1.02), ylabel="accuracy")
        bound = f"L = {result.lipschitz:.3g} (lower bound {check.lower_bound:.3g})"
        ax.set_title(f"{title}\n{bound}" if title else bound, fontsize=9)
        ax.legend(fontsize=8, loc="lower left")
        return save_figure(fig, Path(path), "Certified accuracy and the audit's robust accuracy")
