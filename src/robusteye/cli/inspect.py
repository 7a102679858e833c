"""`robusteye inspect CHECKPOINT_OR_MODEL_NAME`: per-layer norms and the Lipschitz bound
(the product of power-iteration estimates, and the sound bound `robusteye certify` uses)."""

from __future__ import annotations

from pathlib import Path

import click

from robusteye.cli.table import echo_block
from robusteye.errors import UsageError
from robusteye.evaluate.certify import lipschitz_bound
from robusteye.io import dumps_json
from robusteye.models import create_model, inspect_model, list_models, load_model
from robusteye.models.diagnostics import ModelReport
from robusteye.text import printable

#: Largest `--input-size`. Measured peaks of `inspect wrn_16_1` (CPU): 32: 0.3 GB, 128:
#: 0.6 GB, 256: 1.4 GB, 1,024: over 6 GB; 100,000 asked for 40 GB. 128 keeps it under 1 GiB,
#: like the data readers' bounds.
MAX_INPUT_SIZE = 128


def format_report(report: ModelReport, title: str, sound: float) -> str:
    """The report as an aligned text table."""
    width = max(len("layer"), *(len(r.name) for r in report.layers))
    lines = [
        title,
        f"{'layer':<{width}}  {'kind':<9}  {'spectral_norm':>13}  {'orth_error':>10}  constrained",
    ]
    for r in report.layers:
        orth = "-" if r.orthogonality_error is None else f"{r.orthogonality_error:.4f}"
        flag = "yes" if r.constrained else "no"
        lines.append(
            f"{r.name:<{width}}  {r.kind:<9}  {r.spectral_norm:>13.4f}  {orth:>10}  {flag}"
        )
    lines.append(f"Lipschitz bound (product, L2, pixels -> logits): {report.lipschitz_bound:.4g}")
    lines.append(f"sound Lipschitz bound (as robusteye certify uses it): {sound:.4g}")
    return "\n".join(lines)


@click.command()
@click.argument("target")
@click.option("--num-classes", type=click.IntRange(min=2), default=4, show_default=True,
              help="Outputs of a model built by name (ignored for a checkpoint).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of a model built by name and of the power iteration.")  # fmt: skip
@click.option("--iters", type=click.IntRange(min=1), default=100, show_default=True,
              help="Power-iteration steps per convolution.")  # fmt: skip
@click.option("--input-size", type=click.IntRange(min=8, max=MAX_INPUT_SIZE), default=32,
              show_default=True,
              help="Side of the square input the norms are measured on (memory grows with "
              "its square).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def inspect(
    target: str, num_classes: int, seed: int, iters: int, input_size: int, as_json: bool
) -> None:
    """Spectral norm and orthogonality error of every layer of a checkpoint or a fresh model."""
    if Path(target).exists():
        model = load_model(target)
        title = f"checkpoint {target} ({model.config.name})"
    elif target in list_models():
        model = create_model(target, num_classes=num_classes, seed=seed)  # global RNG untouched
        title = f"model {target} (fresh initialisation, seed {seed})"
    else:
        raise UsageError(
            f"{target!r} is neither a checkpoint folder nor a model name "
            f"(known: {', '.join(list_models())})"
        )
    report = inspect_model(model, input_size=input_size, iters=iters, seed=seed)
    sound = lipschitz_bound(model, size=input_size)
    if as_json:
        click.echo(dumps_json({**report.to_dict(), "sound_lipschitz_bound": sound}, indent=2))
    else:
        echo_block(format_report(report, printable(title), sound))
