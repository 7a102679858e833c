"""`robusteye train --spec FILE`: a training spec, with the flags given beside it as
overrides (timm's rule: the YAML gives the defaults, flags override them), and the mapping of
`robusteye train`'s flags onto the spec's fields."""

from __future__ import annotations

from typing import Any

import click
import yaml

from robusteye.cli.table import parse_floats
from robusteye.corruptions import parse_corruptions
from robusteye.errors import UsageError
from robusteye.experiments.trainspec import load_train_spec, train_from_spec


def parse_adv_eps(text: str) -> tuple[tuple[float, float], tuple[float, ...]]:
    if ":" in text:
        lo, hi = parse_floats(text.replace(":", ","), "--adv-eps")[:2]
        return (lo, hi), ()
    values = parse_floats(text, "--adv-eps")
    return (min(values), max(values)), tuple(values)


def parse_model_options(values: tuple[str, ...]) -> dict[str, Any]:
    """`--model-option KEY=VALUE` pairs as a dict, each value read as YAML (`4` an int,
    `0.3` a float, `true` a bool, `silu` a string); the model checks keys and values."""
    options: dict[str, Any] = {}
    for text in values:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--model-option wants KEY=VALUE, got {text!r}")
        if key in options:
            raise UsageError(f"--model-option {key} given twice")
        if key in ("classes", "in_channels", "mean", "std"):
            raise UsageError(f"--model-option {key}: set by the data, not an option")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise UsageError(f"--model-option {key}: cannot read the value {raw!r}") from None
        if not isinstance(value, (str, int, float, bool)):
            raise UsageError(f"--model-option {key}: the value must be a number, a word or a bool")
        options[key] = value
    return options


#: flags that are the spec's `train` fields, as `robusteye train` names them
_TRAIN_FLAGS = {
    "epochs": "epochs", "batch_size": "batch_size", "lr": "lr", "momentum": "momentum",
    "nesterov": "nesterov", "weight_decay": "weight_decay", "schedule": "schedule",
    "step_size": "step_size", "augment": "augment", "hflip": "hflip",
    "channels_last": "channels_last",
    "corruption_p": "corruption_p", "corruption_max_severity": "corruption_max_severity",
    "ema_decay": "ema_decay", "label_smoothing": "label_smoothing", "robust_val": "robust_val",
}  # fmt: skip
#: flags that are regime fields
_REGIME_FLAGS = {
    "regime": "kind", "perturbation": "perturbation", "eps": "eps", "percent": "percent",
    "source_ckpt": "source", "adv_fraction": "fraction", "adv_attack": "attack",
    "cert_radius": "radius", "temperature": "temperature", "pgd_steps": "pgd_steps",
    "beta": "beta", "eps_warmup": "eps_warmup", "overfit_drop": "overfit_drop",
}  # fmt: skip
#: flags a training spec has no place for
_NOT_WITH_SPEC = {
    "val_fraction": "a training spec keeps the last epoch and has no validation split",
    "tensorboard": "a training spec run logs curves.csv only",
    "label_map": "a spec's data is one source string",
    "manifest": "a spec's data is one source string",
    "person_regex": "a spec's data is one source string",
    "classes": "a spec's data is one source string",
}


def spec_overrides(ctx: click.Context) -> dict[str, Any]:
    """The flags given on the command line beside --spec, as the spec fields they set
    (timm's rule: the YAML gives the defaults, flags override them)."""
    given = {
        name: ctx.params[name]
        for name in ctx.params
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
    }
    for name, why in _NOT_WITH_SPEC.items():
        if name in given:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} cannot be combined with --spec ({why})")
    out: dict[str, Any] = {}
    if "model_name" in given:
        out["model"] = given["model_name"]
    for key, value in parse_model_options(given.get("model_option", ())).items():
        out[f"model.options.{key}"] = value
    if "split_seed" in given:
        out["split_seed"] = given["split_seed"]
    if "seed" in given:
        out["seed"] = given["seed"]
    if "test_fraction" in given:
        out["holdout"] = given["test_fraction"]
    for name, key in _TRAIN_FLAGS.items():
        if name in given:
            out[f"train.{key}"] = given[name]
    if "corruptions" in given:
        out["train.corruptions"] = list(parse_corruptions(given["corruptions"]))
    for name, key in _REGIME_FLAGS.items():
        if name in given:
            out[f"train.regime.{key}"] = given[name]
    if "adv_eps" in given:
        (lo, hi), choices = parse_adv_eps(given["adv_eps"])
        out["train.regime.eps_min"], out["train.regime.eps_max"] = lo, hi
        out["train.regime.eps_choices"] = list(choices)
    return out


def train_spec(ctx: click.Context, path: str, out: str, resume: bool, progress: bool) -> None:
    overrides = spec_overrides(ctx)
    source = ctx.params["source"] if _given(ctx, "source") else None
    spec = load_train_spec(path, data=source).override(overrides)
    shown = "".join(f", {k}={v}" for k, v in overrides.items())
    click.echo(f"training {spec.model.name} from {path}{shown} on {spec.data} -> {out}", err=True)
    result = train_from_spec(
        spec,
        out,
        device=ctx.params["device"],
        resume=resume,
        progress=progress,
        log=lambda s: click.echo(s, err=True),
    )
    fit = result.job.fit
    click.echo(f"done: {len(fit.history)} epochs")
    evaluation = result.evaluation
    if evaluation is not None:
        clean = evaluation["clean"]
        click.echo(
            f"hold-out ({evaluation['n']} images of {evaluation['persons']} persons): "
            f"accuracy {clean['accuracy']:.4f}  macro F1 {clean['macro_f1']:.4f}"
        )
        for curve in evaluation["attacks"]:
            for point in curve["points"]:
                click.echo(
                    f"  {curve['attack']} eps {point['eps']:.4g}"
                    + (f" ({point['snr_db']:.1f} dB)" if point["snr_db"] is not None else "")
                    + f": accuracy {point['metrics']['accuracy']:.4f}"
                )
    click.echo(
        f"checkpoint: {out}/last; spec as run: {out}/spec.yaml; "
        f"hold-out figures: {out}/evaluation.json"
    )


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
