"""`robusteye train`: one model, one regime, one data source; writes a checkpoint folder.

Over 300 lines because it declares the verb's forty-odd options; their one mapping onto a
training spec's fields (`TRAIN_FLAGS`, read by the plain flags and by `--spec`) lives in
`cli/train_spec.py`, what they do in `robusteye.train`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from robusteye.attacks import ATTACKS, attack_names
from robusteye.cli.options import data_options, device_option, open_source, progress_option
from robusteye.cli.table import echo
from robusteye.cli.train_extra import (
    check_extra_flags,
    extra_data_options,
    read_extra,
)
from robusteye.cli.train_spec import (
    check_flags_record,
    fields_under,
    flag_fields,
    flags_record,
    train_spec,
)
from robusteye.errors import UsageError
from robusteye.models import check_model_options, list_models
from robusteye.train import REGIMES, TrainConfig
from robusteye.train.config import SCHEDULES
from robusteye.train.run import TrainJob, run_job


class RegimeChoice(click.Choice):
    """`--regime`: the regimes registered when the command runs (`REGIMES`), so that a
    regime registered after this module was imported is a choice too."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(REGIMES)

    @choices.setter
    def choices(self, _: Any) -> None:
        pass


@click.command()
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="A training spec (YAML, e.g. the winner.yaml of robusteye select): it sets the "
    "model, the training, the data and the hold-out persons; flags given with it override "
    "the spec, and the resolved spec is saved as OUT/spec.yaml.",
)
@click.option("--model", "model_name", default=None, help="A registered model name.")
@click.option(
    "--model-option",
    "model_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a parameter of the model (repeatable; the value is read as YAML), e.g. "
    "--model wrn --model-option depth=16 --model-option width=4 --model-option "
    "activation=silu.",
)
@click.option(
    "--data",
    "source",
    default="synthetic",
    show_default=True,
    help="Data source (synthetic, folder, npz, pz).",
)
@click.option("--regime", type=RegimeChoice(), default="standard", show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run folder.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--lr", type=float, default=0.1, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--nesterov/--no-nesterov", default=False, show_default=True)
@click.option("--weight-decay", type=float, default=1e-4, show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(SCHEDULES),
    default="step",
    show_default=True,
    help="step: x0.1 every --step-size epochs (the study); cosine: per epoch down to 0; "
    "onecycle: per batch, up from lr/25 over the first 30%, then a cosine down to 0.",
)
@click.option("--step-size", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--augment/--no-augment",
    default=True,
    show_default=True,
    help="Random rotation +-10 deg and shifts +-5/32.",
)
@click.option(
    "--hflip/--no-hflip",
    default=False,
    show_default=True,
    help="Mirror a random half of each batch left to right (a left eye becomes a right one).",
)
@click.option("--val-fraction", type=float, default=0.1, show_default=True)
@click.option(
    "--test-fraction",
    type=float,
    default=0.15,
    show_default=True,
    help="Persons held out for the final clean metrics.",
)
@click.option(
    "--perturbation",
    type=click.Choice(list(ATTACKS)),
    default="fgsm",
    show_default=True,
    help="augment: kind of added examples.",
)
@click.option(
    "--eps",
    type=float,
    default=0.01,
    show_default=True,
    help="augment: eps of the added examples; pgd, trades, fgsm-rs: the training eps (L-inf).",
)
@click.option(
    "--percent",
    type=float,
    default=50.0,
    show_default=True,
    help="augment: share of the training set perturbed and added.",
)
@click.option(
    "--source",
    "source_ckpt",
    type=click.Path(),
    default=None,
    help="augment: FGSM source checkpoint (default: train a standard model first).",
)
@click.option(
    "--adv-fraction",
    type=float,
    default=0.5,
    show_default=True,
    help="adversarial: share of each batch replaced.",
)
@click.option(
    "--adv-eps",
    default="0.001:0.032",
    show_default=True,
    help="adversarial: eps range MIN:MAX or a list A,B,C.",
)
@click.option(
    "--adv-attack",
    type=click.Choice(attack_names(white_box=True)),
    default="fgsm",
    show_default=True,
)
@click.option(
    "--pgd-steps",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="pgd, trades (and adversarial with a stepping attack): attack steps per batch.",
)
@click.option(
    "--beta",
    type=click.FloatRange(min=0, max=1000),
    default=6.0,
    show_default=True,
    help="trades: weight of the KL term (higher: more robust, less clean accuracy).",
)
@click.option(
    "--eps-warmup",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Attack regimes: epochs over which the training eps ramps up from 0.",
)
@click.option(
    "--overfit-drop",
    type=click.FloatRange(min=0, max=1),
    default=0.2,
    show_default=True,
    help="Attack regimes: stop (rolling back the epoch) when the PGD validation accuracy "
    "falls this far below the previous epoch's, beyond how far clean accuracy moved: "
    "catastrophic overfitting. 0: never.",
)
@click.option(
    "--awp-gamma",
    type=click.FloatRange(min=0, max=0.1),
    default=0.0,
    show_default=True,
    help="Attack regimes: adversarial weight perturbation (Wu et al. 2020): before each "
    "step every weight moves up the loss by this share of its norm (the paper: 0.005). "
    "0: off.",
)
@extra_data_options
@click.option(
    "--robust-val",
    type=click.IntRange(min=0),
    default=256,
    show_default=True,
    help="Attack regimes: validation images checked by PGD-10 at the training eps each "
    "epoch; picks the best checkpoint and feeds the guard. 0: no check.",
)
@click.option(
    "--ema-decay",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
    help="Keep a moving average of the weights with this decay (e.g. 0.999), validated each "
    "epoch and saved as OUT/ema. 0: none.",
)
@click.option(
    "--label-smoothing",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.0,
    show_default=True,
)
@click.option(
    "--cert-radius",
    type=click.FloatRange(min=0, max=10),
    default=0.2,
    show_default=True,
    help="certified: the L2 radius the Lipschitz-margin loss trains for (0.2 certifies "
    "most points at 36/255).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True, max=100),
    default=0.1,
    show_default=True,
    help="certified: temperature of the Lipschitz-margin loss.",
)
@click.option(
    "--corruptions",
    default=None,
    help="Also corrupt training batches: 'all' or a comma-separated list (robusteye corrupt).",
)
@click.option(
    "--corruption-p",
    type=float,
    default=0.5,
    show_default=True,
    help="--corruptions: share of each batch corrupted.",
)
@click.option(
    "--corruption-max-severity",
    type=int,
    default=3,
    show_default=True,
    help="--corruptions: severity uniform in 1..this.",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--split-seed",
    type=int,
    default=None,
    help="Seed of the person splits (default: --seed), so that runs of several seeds can "
    "hold out the same persons.",
)
@click.option(
    "--channels-last/--no-channels-last",
    default=True,
    show_default=True,
    help="NHWC memory layout (faster on CPU).",
)
@click.option(
    "--tensorboard", is_flag=True, help="Also log curves to OUT/tensorboard (needs tensorboard)."
)
@device_option()
@click.option("--resume", is_flag=True, help="Continue from OUT/last if it exists.")
@progress_option()
@data_options
@click.pass_context
def train(
    ctx: click.Context,
    spec_path: str | None,
    model_name: str | None,
    source: str,
    out: str,
    resume: bool,
    progress: bool,
    label_map: tuple[str, ...],
    manifest: str | None,
    person_regex: str | None,
    classes: str | None,
    **_: Any,
) -> None:
    """Train MODEL on a data source in a regime; writes OUT/{best,last}, curves and metrics."""
    if spec_path is not None:
        train_spec(ctx, spec_path, out, resume, progress)
        return
    if model_name is None:
        raise UsageError("give --model (or --spec)")
    if model_name not in list_models():
        raise UsageError(f"unknown model {model_name!r} (known: {', '.join(list_models())})")
    fields = flag_fields(ctx.params)  # the training spec's fields, every flag given or not
    model_options = fields_under(fields, "model.options.")
    check_model_options(model_name, model_options)  # before any output
    training = {
        **fields_under(fields, "train."),
        "regime": fields_under(fields, "train.regime."),
        "seed": fields["seed"],
        "device": ctx.params["device"],
    }
    config = TrainConfig.from_dict(training)
    extra_source, teacher = ctx.params["extra_source"], ctx.params["pseudo_label"]
    check_extra_flags(extra_source, config.extra_fraction, teacher)
    ds = open_source(source, label_map, manifest, person_regex, classes)
    extra_set = read_extra(extra_source, ds.classes, teacher, config.device)
    job = TrainJob(
        model_name,
        ds,
        config,
        Path(out),
        model_overrides=model_options or None,
        test_fraction=fields["holdout"],
        split_seed=fields["split_seed"],
        extra=extra_set,
    )
    regime, names = config.regime.kind, config.corruptions
    extra = f", corrupting {config.corruption_p:g} of each batch" if names else ""
    echo(
        f"training {model_name} ({regime}{extra}) on {len(ds)} images of {source} -> {out}",
        err=True,
    )

    def on_epoch(r: Any) -> None:
        robust = f"  val_robust {r.val_robust_acc:.4f}" if math.isfinite(r.val_robust_acc) else ""
        ema = f"  ema_val {r.ema_val_acc:.4f}" if math.isfinite(r.ema_val_acc) else ""
        echo(
            f"epoch {r.epoch:>3}/{config.epochs}  lr {r.lr:.4g}  loss {r.train_loss:.4f}"
            f"  acc {r.train_acc:.4f}  val_loss {r.val_loss:.4f}  val_acc {r.val_acc:.4f}"
            f"{robust}{ema}  {r.seconds:.1f}s",
            err=True,
        )
        if r.collapsed:
            echo(
                f"catastrophic overfitting at epoch {r.epoch}: PGD validation accuracy fell "
                f"to {r.val_robust_acc:.4f}; rolled back to epoch {r.epoch - 1} and stopped",
                err=True,
            )

    record = flags_record(ctx)
    result = run_job(
        job,
        resume=resume,
        progress=progress,
        on_epoch=on_epoch,
        log=lambda s: echo(s, err=True),
        on_claim=lambda folder: check_flags_record(folder, record),
    )
    fit = result.fit
    val = fit.val_metrics
    echo(
        f"done: {len(fit.history)} epochs, best epoch {fit.best_epoch}"
        + (f", val accuracy {val.accuracy:.4f}" if val else "")
    )
    if result.test_metrics is not None:
        t = result.test_metrics
        echo(
            f"test ({t.n} images of {len(result.splits['test'])} held-out persons): "
            f"accuracy {t.accuracy:.4f}  macro F1 {t.macro_f1:.4f}  "
            f"ROC-AUC {'-' if t.roc_auc_macro is None else f'{t.roc_auc_macro:.4f}'}"
        )
    if not fit.learned:
        echo(
            f"did not learn: final clean accuracy {fit.final_clean:.4f}, no better than always "
            f"answering the largest class ({fit.chance:.4f}); try a lower --lr"
            + (" (the guard's stop is not the cause)" if fit.stopped is not None else ""),
            err=True,
        )
    elif fit.stopped is not None:
        echo(
            f"stopped at epoch {fit.stopped}: catastrophic overfitting (PGD validation accuracy "
            "collapsed); last/ holds the epoch before"
        )
    if fit.ema_metrics is not None:
        echo(f"weight average: val accuracy {fit.ema_metrics.accuracy:.4f}")
    if result.ema_test_metrics is not None:
        t = result.ema_test_metrics
        echo(f"weight average on the held-out persons: accuracy {t.accuracy:.4f}")
    best = (
        "best robust validation"
        if config.regime.attacks_model and config.robust_val
        else ("best validation")
    )
    ema = f", {out}/ema (weight average)" if config.ema_decay > 0 else ""
    echo(f"checkpoints: {out}/last (final), {out}/best ({best}){ema}")
