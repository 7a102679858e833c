"""`robusteye select SPEC`: a cross-validated search; the winner retrained and scored once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robusteye.cli.options import run_options
from robusteye.cli.table import echo, echo_block, format_table, plus_minus
from robusteye.experiments.backends import RunOptions
from robusteye.experiments.selection import WINNER_SPEC, load_select_spec, run_selection
from robusteye.io import check_not_input


@click.command(name="select")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder [default: runs/<spec name>]. Run again to resume.",
)
@run_options("trial")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="Rows of the ranking printed.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="List the trials and exit.")
def select(
    spec_path: str,
    out: str | None,
    data: str | None,
    run: RunOptions,
    top: int,
    dry_run: bool,
) -> None:
    """Search SPEC's space by person-grouped k-fold on the training persons, rank the
    trials, write the winner as a training spec, retrain it and score it on the hold-out."""
    spec = load_select_spec(spec_path, data=data)
    trials = spec.trials()
    if dry_run:
        for t in trials:
            echo(f"{t.id}  " + "  ".join(f"{k}={v}" for k, v in t.params.items()))
        rungs = spec.rungs(trials[0])
        echo(
            f"{len(trials)} trials x {spec.folds} folds; epochs per rung: "
            + "/".join(map(str, rungs))
        )
        return
    folder = Path(out) if out is not None else Path("runs") / spec.name
    check_not_input(folder, folders=[spec.data])  # figures in an image folder become data
    echo(
        f"{spec.name}: {len(trials)} trials x {spec.folds} folds on {spec.data} -> {folder}; "
        f"objective: {spec.objective.describe()}"
    )
    result = run_selection(
        spec,
        folder,
        run,
        log=lambda line: echo(line, err=True),
    )
    echo_block(ranking_table(result.ranking[:top]))
    if result.winner is not None:
        echo(winner_line(result.winner))
        echo(f"winning spec: {folder / WINNER_SPEC}")
    echo(
        f"{result.ran} trial-folds run, {result.skipped} resumed, {result.seconds:.0f} s; "
        f"ranking in {folder / 'ranking.csv'}"
    )
    if result.report is not None:
        echo(f"report: {result.report}")


def ranking_table(ranking: list[dict[str, Any]]) -> str:
    """Rank, trial, parameters, epochs reached and mean +- std of the headline metrics."""
    keys = list(dict.fromkeys(k for e in ranking for k in e["params"]))
    metrics = [("objective", "objective"), ("accuracy", "clean acc")]
    if any(e["metrics"]["robust_accuracy"]["mean"] is not None for e in ranking):
        metrics.append(("robust_accuracy", "robust acc"))
    headers = ["#", "trial", *keys, "epochs", *(h for _, h in metrics)]
    rows = [
        [
            e["rank"],
            e["trial"],
            *(e["params"].get(k, "") for k in keys),
            e["epochs"] if e["completed"] else f"{e['epochs']} (stopped)",
            *(plus_minus(e["metrics"][m]) for m, _ in metrics),
        ]
        for e in ranking
    ]
    return format_table(headers, rows)


def winner_line(winner: dict[str, Any]) -> str:
    holdout = winner.get("holdout") or {}
    clean = holdout.get("clean") or {}
    parts = [f"winner {winner['trial']}: cv objective {plus_minus(winner['cv']['objective'])}"]
    if clean:
        parts.append(
            f"hold-out ({holdout['n']} images, {holdout['persons']} persons): "
            f"accuracy {clean['accuracy']:.4f}, macro F1 {clean['macro_f1']:.4f}"
        )
        for curve in holdout.get("attacks", []):
            points = curve["points"]
            by_snr = all(p.get("target_snr_db") is not None for p in points)
            where = (
                "/".join(f"{p['target_snr_db']:g}" for p in points) + " dB"
                if by_snr
                else "eps " + "/".join(f"{p['eps']:g}" for p in points)
            )
            accs = "/".join(f"{p['metrics']['accuracy']:.3f}" for p in points)
            parts.append(f"{curve['attack']} @ {where}: {accs}")
    return "; ".join(parts)
