"""The one map of `robusteye train`'s flags onto a training spec's fields (`TRAIN_FLAGS`), and
`robusteye train --spec FILE`: a training spec, with the flags given beside it as overrides
(timm's rule: the YAML gives the defaults, flags override them)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

from robusteye.cli.table import echo, parse_floats
from robusteye.corruptions import parse_corruptions
from robusteye.errors import UsageError
from robusteye.experiments.rundir import describe_changes
from robusteye.experiments.trainspec import load_train_spec, train_from_spec
from robusteye.io import write_json
from robusteye.models import DATA_OWNED_OPTIONS
from robusteye.readers import read_json


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
        if key in DATA_OWNED_OPTIONS:
            raise UsageError(f"--model-option {key}: set by the data, not an option")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise UsageError(f"--model-option {key}: cannot read the value {raw!r}") from None
        if not isinstance(value, (str, int, float, bool)):
            raise UsageError(f"--model-option {key}: the value must be a number, a word or a bool")
        options[key] = value
    return options


@dataclass(frozen=True)
class Flag:
    """Where one flag of `robusteye train` goes: the training-spec field it sets (dotted, as
    `TrainSpec.override` takes it: `train.regime.eps`; None for none), how its value becomes
    fields where it is not one field's value, and why it cannot be given beside --spec."""

    field: str | None
    convert: Callable[[Any], dict[str, Any]] | None = None
    refused: str = ""

    def fields(self, value: Any) -> dict[str, Any]:
        if self.convert is not None:
            return self.convert(value)
        return {} if self.field is None else {self.field: value}


def _model_options(values: tuple[str, ...]) -> dict[str, Any]:
    return {f"model.options.{k}": v for k, v in parse_model_options(values).items()}


def _corruptions(text: str | None) -> dict[str, Any]:
    return {"train.corruptions": [] if text is None else list(parse_corruptions(text))}


def _adv_eps(text: str) -> dict[str, Any]:
    (lo, hi), choices = parse_adv_eps(text)
    regime = "train.regime."
    return {f"{regime}eps_min": lo, f"{regime}eps_max": hi, f"{regime}eps_choices": list(choices)}


_DATA = "a spec's data is one source string"

#: every flag of `robusteye train` that sets a field of the training (its click parameter
#: name -> `Flag`), in the order a spec's overrides are listed: the one map both the plain
#: flags (every flag, given or not) and --spec (the flags given beside it) read
TRAIN_FLAGS: dict[str, Flag] = {
    "model_name": Flag("model"),
    "model_option": Flag("model.options", _model_options),
    "split_seed": Flag("split_seed"),
    "seed": Flag("seed"),
    "test_fraction": Flag("holdout"),
    **{name: Flag(f"train.{name}") for name in (
        "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "schedule",
        "step_size", "augment", "hflip", "channels_last", "corruption_p",
        "corruption_max_severity", "ema_decay", "label_smoothing", "robust_val",
        "extra_fraction",
    )},
    "corruptions": Flag("train.corruptions", _corruptions),
    **{name: Flag(f"train.regime.{key}") for name, key in (
        ("regime", "kind"), ("perturbation", "perturbation"), ("eps", "eps"),
        ("percent", "percent"), ("source_ckpt", "source"), ("adv_fraction", "fraction"),
        ("adv_attack", "attack"), ("cert_radius", "radius"), ("temperature", "temperature"),
        ("pgd_steps", "pgd_steps"), ("beta", "beta"), ("eps_warmup", "eps_warmup"),
        ("overfit_drop", "overfit_drop"), ("awp_gamma", "awp_gamma"),
    )},
    "adv_eps": Flag("train.regime.eps_min", _adv_eps),  # also eps_max and eps_choices
    "val_fraction": Flag(
        "train.val_fraction",
        refused="a training spec keeps the last epoch and has no validation split",
    ),
    "tensorboard": Flag("train.tensorboard", refused="a training spec run logs curves.csv only"),
    **{name: Flag(None, refused=_DATA) for name in ("label_map", "manifest", "person_regex",
                                                     "classes", "extra_source", "pseudo_label")},
}  # fmt: skip


def flag_fields(params: Mapping[str, Any], names: Collection[str] | None = None) -> dict[str, Any]:
    """The training-spec fields (dotted keys, in `TRAIN_FLAGS` order) that the flags `names`
    (default: all) set to their values in `params`."""
    out: dict[str, Any] = {}
    for name, flag in TRAIN_FLAGS.items():
        if names is None or name in names:
            out.update(flag.fields(params[name]))
    return out


def fields_under(fields: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The fields directly under `prefix` (`train.`: the training's, not its regime's)."""
    n = len(prefix)
    return {k[n:]: v for k, v in fields.items() if k.startswith(prefix) and "." not in k[n:]}


#: the settings a plain-flags training run was started with (`robusteye train` without --spec),
#: saved in its folder and compared on every resume, as --spec compares OUT/spec.yaml
FLAGS_RECORD = "train_flags.json"
#: flags a resume may change: they do not change what is trained
_FREE_FLAGS = ("tensorboard",)
#: flag names where the click parameter is not the flag with dashes
_FLAG_NAMES = {"model_name": "model", "source_ckpt": "source"}


def flags_record(ctx: click.Context) -> dict[str, Any]:
    """The flags of a plain `robusteye train` that decide what is trained (the data source,
    every flag of `TRAIN_FLAGS` but `_FREE_FLAGS`), by flag name, as JSON values."""
    params = ctx.params
    record: dict[str, Any] = {"data": params["source"]}
    for name in TRAIN_FLAGS:
        if name in _FREE_FLAGS:
            continue
        value = params[name]
        if name == "model_option":
            value = parse_model_options(value)
        elif name == "split_seed" and value is None:
            value = params["seed"]
        elif isinstance(value, tuple):
            value = list(value)
        record[_FLAG_NAMES.get(name, name.replace("_", "-"))] = value
    return record


def check_flags_record(folder: Path, record: dict[str, Any]) -> None:
    """Refuse to resume the run in `folder` with other flags than it was started with, naming
    each (`--epochs` may grow: the run goes on for more epochs); record them in a new run."""
    path = folder / FLAGS_RECORD
    if path.is_file():
        try:
            old = read_json(path, error=UsageError)
        except UsageError:
            raise UsageError(f"{path} is damaged; choose another --out") from None
        if not isinstance(old, dict):
            raise UsageError(f"{path} is damaged; choose another --out")
        grows = isinstance(old.get("epochs"), int) and record["epochs"] >= old["epochs"]
        saved = {**old, "epochs": record["epochs"]} if grows else old
        changed = describe_changes(saved, record)
        if changed:
            raise UsageError(
                f"{folder} was trained with other settings: {', '.join(changed)}; "
                "resume with the same flags or choose another --out"
            )
        if old == record:
            return
    write_json(path, record)


def spec_overrides(ctx: click.Context) -> dict[str, Any]:
    """The flags given on the command line beside --spec, as the spec fields they set
    (timm's rule: the YAML gives the defaults, flags override them)."""
    given = [name for name in ctx.params if _given(ctx, name)]
    for name, flag in TRAIN_FLAGS.items():
        if flag.refused and name in given:
            flag_name = "--" + name.replace("_", "-")
            raise UsageError(f"{flag_name} cannot be combined with --spec ({flag.refused})")
    return flag_fields(ctx.params, given)


def train_spec(ctx: click.Context, path: str, out: str, resume: bool, progress: bool) -> None:
    overrides = spec_overrides(ctx)
    source = ctx.params["source"] if _given(ctx, "source") else None
    spec = load_train_spec(path, data=source).override(overrides)
    shown = "".join(f", {k}={v}" for k, v in overrides.items())
    echo(f"training {spec.model.name} from {path}{shown} on {spec.data} -> {out}", err=True)
    result = train_from_spec(
        spec,
        out,
        device=ctx.params["device"],
        resume=resume,
        progress=progress,
        log=lambda s: echo(s, err=True),
    )
    fit = result.job.fit
    echo(f"done: {len(fit.history)} epochs")
    evaluation = result.evaluation
    if evaluation is not None:
        clean = evaluation["clean"]
        echo(
            f"hold-out ({evaluation['n']} images of {evaluation['persons']} persons): "
            f"accuracy {clean['accuracy']:.4f}  macro F1 {clean['macro_f1']:.4f}"
        )
        for curve in evaluation["attacks"]:
            for point in curve["points"]:
                echo(
                    f"  {curve['attack']} eps {point['eps']:.4g}"
                    + (f" ({point['snr_db']:.1f} dB)" if point["snr_db"] is not None else "")
                    + f": accuracy {point['metrics']['accuracy']:.4f}"
                )
    echo(
        f"checkpoint: {out}/last; spec as run: {out}/spec.yaml; "
        f"hold-out figures: {out}/evaluation.json"
    )


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
