"""A regime is one object in one registry: a toy regime registered here (the one place it is
written) reaches the `--regime` choices, spec validation and the grid's cell ids, training
(its batch perturbation and its loss are what the trainer calls), and the report's order
and labels; unregistered, it is gone again. The built-in regimes keep their names, spec keys
and summaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from robusteye.cli import main
from robusteye.errors import UsageError
from robusteye.experiments import load_spec, run_experiment
from robusteye.experiments.grid.cells import expand_cells
from robusteye.models import create_model
from robusteye.train import REGIMES, RegimeConfig, TrainConfig, Trainer
from robusteye.train.regimes import (
    Regime,
    attack_regimes,
    get_regime,
    register_regime,
    report_rank,
    unregister_regime,
)
from tests.conftest import make_dataset


class Toy(Regime):
    """Uniform noise of `eps` on every training batch; cross entropy, counted."""

    name = "toy"
    fields = ("eps",)
    grid_keys = ("eps",)
    rank = 2.5  # listed between adversarial and certified
    report_rank = -1  # reported before the standard models

    def __init__(self) -> None:
        self.perturbed = 0
        self.losses = 0

    def tag(self, r: RegimeConfig) -> str:
        return f"toy-e{r.eps:g}"

    def label(self, r: RegimeConfig) -> str:
        return f"toy: noise eps {r.eps:g}"

    def perturb(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
    ) -> Tensor:
        self.perturbed += 1
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * r.eps * scale
        return (x + noise.to(x.device)).clamp(0, 1)

    def criterion(
        self, logits: Tensor, y: Tensor, r: RegimeConfig, label_smoothing: float = 0.0
    ) -> Tensor:
        self.losses += 1
        return super().criterion(logits, y, r, label_smoothing)


@pytest.fixture
def toy() -> Iterator[Toy]:
    regime = register_regime(Toy())
    yield regime
    unregister_regime("toy")


BUILT_IN = ("standard", "augment", "adversarial", "certified", "pgd", "trades", "fgsm-rs")


def test_the_built_in_regimes_and_their_order() -> None:
    assert tuple(REGIMES) == BUILT_IN
    assert attack_regimes() == ("adversarial", "pgd", "trades", "fgsm-rs")
    reported = sorted(BUILT_IN, key=report_rank)
    assert reported == ["standard", "augment", "adversarial", "pgd", "trades", "fgsm-rs",
                        "certified"]  # fmt: skip
    assert RegimeConfig(kind="fgsm-rs", eps=0.03).summary() == {
        "kind": "fgsm-rs", "eps": 0.03, "eps_warmup": 0, "overfit_drop": 0.2,
    }  # fmt: skip
    assert get_regime("trades").spec_keys == ("eps", "pgd_steps", "beta", "eps_warmup",
                                              "awp_gamma", "overfit_drop")  # fmt: skip
    # weight perturbation joins the summary and the tag only when on
    awp = RegimeConfig(kind="pgd", eps=0.03, awp_gamma=0.005)
    assert awp.summary()["awp_gamma"] == 0.005
    assert awp.definition.tag(awp) == "pgd-k5-e0.03-awp0.005"


def test_registration_is_checked(toy: Toy) -> None:
    with pytest.raises(ValueError, match="registered already"):
        register_regime(Toy())
    nameless = Regime()
    with pytest.raises(ValueError, match="needs a name"):
        register_regime(nameless)
    assert tuple(REGIMES) == (*BUILT_IN[:3], "toy", *BUILT_IN[3:])


def test_a_registered_regime_is_a_config_and_a_spec_kind(toy: Toy) -> None:
    assert RegimeConfig(kind="toy", eps=0.05).summary() == {"kind": "toy", "eps": 0.05}
    spec = load_spec(
        {
            "name": "toy",
            "data": "synthetic:n=40",
            "folds": 2,
            "models": ["cnn"],
            "regimes": [{"kind": "standard"}, {"kind": "toy", "eps": [0.01, 0.02]}],
        }
    )
    cells = [c for c in expand_cells(spec) if c.fold == 0]
    assert [c.id for c in cells] == ["cnn.standard.f0.s0", "cnn.toy-e0.01.f0.s0",
                                     "cnn.toy-e0.02.f0.s0"]  # fmt: skip
    assert cells[1].label == "cnn · toy: noise eps 0.01"
    bad = {"name": "toy", "data": "synthetic", "models": ["cnn"]}
    refused = r"'beta' is not an option of the toy regime \(allowed: eps, corruptions,"
    with pytest.raises(UsageError, match=refused):
        load_spec({**bad, "regimes": [{"kind": "toy", "beta": 1.0}]})
    with pytest.raises(UsageError, match="'adversarial', 'toy', 'certified'"):
        load_spec({**bad, "regimes": [{"kind": "toy2"}]})


def test_the_trainer_calls_its_perturbation_and_its_loss(toy: Toy) -> None:
    data = make_dataset(40)
    config = TrainConfig(
        epochs=1, batch_size=16, augment=False, regime=RegimeConfig(kind="toy", eps=0.1)
    )
    model = create_model("cnn", data.num_classes, seed=0, classes=data.classes)
    fit = Trainer(model, config).fit(data)
    assert toy.perturbed == toy.losses == 3  # 40 images in batches of 16
    assert len(fit.history) == 1


def test_it_is_a_train_choice_and_trains_from_the_command_line(
    toy: Toy, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--help"]) == 0
    choices = "[standard|augment|adversarial|toy|certified|pgd|trades|fgsm-rs]"
    assert choices in capsys.readouterr().out
    data = make_dataset(64, n_persons=16, seed=3).save(tmp_path / "d.npz")
    out = tmp_path / "run"
    argv = ["train", "--model", "cnn", "--data", str(data), "--epochs", "1", "--no-progress"]
    argv += ["--val-fraction", "0.2", "--test-fraction", "0.25"]
    argv += ["--regime", "toy", "--eps", "0.05", "--out", str(out)]
    assert main(argv) == 0
    assert toy.perturbed > 0 and toy.losses > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["regime"] == {"kind": "toy", "eps": 0.05}


def test_once_unregistered_it_is_refused(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    register_regime(Toy())
    unregister_regime("toy")
    argv = ["train", "--model", "cnn", "--regime", "toy", "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "'toy' is not one of 'standard'" in capsys.readouterr().err
    with pytest.raises(UsageError, match=r"regime must be one of standard, .*, got 'toy'"):
        RegimeConfig(kind="toy")


def test_a_grid_of_it_runs_and_the_report_orders_and_names_it(toy: Toy, tmp_path: Any) -> None:
    spec = {
        "name": "toyrun",
        "data": "synthetic:n=48",
        "folds": 2,
        "models": ["cnn"],
        "train": {"epochs": 1, "batch_size": 32, "augment": False},
        "regimes": [{"kind": "standard"}, {"kind": "toy", "eps": 0.02}],
        "evaluation": {"examples": 0},
    }
    result = run_experiment(load_spec(spec), tmp_path / "run")
    assert result.ran == 4 and toy.perturbed > 0
    first = result.summary[0]  # report_rank -1: before the standard model
    assert first["variant"] == "cnn.toy-e0.02"
    assert first["label"] == "cnn · toy: noise eps 0.02"
    assert first["regime"] == {"kind": "toy", "eps": 0.02}
