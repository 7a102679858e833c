"""Model-selection specs: the search space, strategies, halving rungs and the objective."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robusteye.errors import UsageError
from robusteye.experiments.selection.space import Halving
from robusteye.experiments.selection.spec import Objective, load_select_spec


def _spec(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "s",
        "data": "synthetic:n=200",
        "train": {"epochs": 4},
        "search": {"space": {"lr": [0.05, 0.1]}},
    }
    return {**base, **over}


def test_grid_expands_every_point_in_order_last_axis_fastest() -> None:
    spec = load_select_spec(
        _spec(search={"space": {"model.width": [1, 2], "lr": [0.05, 0.1, 0.2]}})
    )
    trials = spec.trials()
    assert [t.id for t in trials] == [f"t{i:03d}" for i in range(6)]
    assert [(t.params["model.width"], t.params["lr"]) for t in trials] == [
        (1, 0.05), (1, 0.1), (1, 0.2), (2, 0.05), (2, 0.1), (2, 0.2),
    ]  # fmt: skip
    last = trials[-1].train_spec
    assert last.model.options == {"width": 2}
    assert last.train_config().lr == 0.2 and last.train_config().epochs == 4


def test_model_entries_replace_the_base_model_and_carry_their_own_options() -> None:
    spec = load_select_spec(
        _spec(
            model={"name": "wrn_16_1", "options": {"dropout": 0.1}},
            search={
                "space": {
                    "model": ["wrn_16_1", {"name": "parseval_wrn", "options": {"beta": 0.002}}],
                    "model.width": [2],
                    "regime.kind": ["standard", "adversarial"],
                }
            },
        )
    )
    trials = spec.trials()
    assert [t.params["model"] for t in trials] == ["wrn_16_1"] * 2 + ["parseval_wrn"] * 2
    assert trials[0].train_spec.model.options == {"width": 2}  # the base entry is replaced
    assert trials[2].train_spec.model.options == {"beta": 0.002, "width": 2}
    assert trials[3].train_spec.train_config().regime.kind == "adversarial"


def test_without_a_searched_model_the_base_model_keeps_its_options() -> None:
    spec = load_select_spec(
        _spec(model={"name": "wrn_16_1", "options": {"dropout": 0.1}},
              search={"space": {"model.width": [2]}})
    )  # fmt: skip
    assert spec.trials()[0].train_spec.model.options == {"dropout": 0.1, "width": 2}


def test_random_search_draws_a_budget_of_distinct_trials_deterministically() -> None:
    raw = _spec(
        search={
            "strategy": "random",
            "trials": 6,
            "seed": 3,
            "space": {
                "lr": {"log_uniform": [0.001, 0.3]},
                "momentum": {"uniform": [0.5, 0.95]},
                "batch_size": {"int_uniform": [16, 64]},
                "weight_decay": [1e-4, 1e-2],
            },
        }
    )
    a, b = load_select_spec(raw).trials(), load_select_spec(raw).trials()
    assert [t.params for t in a] == [t.params for t in b]
    assert len({repr(t.params) for t in a}) == 6
    for t in a:
        assert 0.001 <= t.params["lr"] <= 0.3
        assert 0.5 <= t.params["momentum"] <= 0.95
        assert isinstance(t.params["batch_size"], int) and 16 <= t.params["batch_size"] <= 64
    other = load_select_spec({**raw, "search": {**raw["search"], "seed": 4}}).trials()
    assert [t.params for t in other] != [t.params for t in a]


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"space": {"bogus": [1]}}, "bogus: not a searchable setting"),
        ({"space": {"seed": [1, 2]}}, "seed: not a searchable setting"),
        ({"space": {"regime.nope": [1]}}, "regime.nope: not a regime field"),
        ({"space": {"lr": []}}, "lr: the list of choices is empty"),
        ({"space": {"lr": {"uniform": [0.1, 0.2]}}}, "a grid takes lists"),
        ({"space": {"lr": {"normal": [0, 1]}}, "strategy": "random", "trials": 2}, "one of"),
        ({"space": {"lr": {"log_uniform": [0, 1]}}, "strategy": "random", "trials": 2}, "low > 0"),
        ({"space": {"lr": {"uniform": [2, 1]}}, "strategy": "random", "trials": 2}, "low <= high"),
        ({"space": {"lr": [0.1]}, "strategy": "random"}, "needs a budget"),
        ({"space": {"lr": [0.1, 0.2]}, "strategy": "random", "trials": 3}, "only 2 points"),
        ({"space": {"lr": [0.1]}, "trials": 3}, "a grid runs them all"),
        ({"space": {"epochs": [2, 4]}, "halving": {"eta": 3}}, "do not search them as well"),
        ({"space": {"lr": [0.1, -1.0]}}, "trial t001 (lr=-1.0): lr must be > 0"),
        ({"space": {"model.width": [0]}}, "trial t000 (model.width=0): model 'wrn'"),
        ({"space": {"model": ["nosuch"]}}, "unknown model 'nosuch'"),
        ({"space": {"regime.kind": ["bogus"]}}, "regime must be one of"),
        ({"space": {}}, "at least 1 item"),
    ],
)
def test_bad_search_spaces_are_one_line_usage_errors(search: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_select_spec(_spec(search=search))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"holdout": 0.0}, "holdout: Input should be greater than 0"),
        ({"folds": 1}, "folds: Input should be greater than or equal to 2"),
        ({"train": {"seed": 3}}, "seed cannot be set here"),
        ({"objective": {"metric": "robust"}}, "needs an attack"),
        ({"objective": {"attack": "fgsm"}}, "give either eps or snr"),
        ({"objective": {"attack": "fgsm", "eps": 0.1, "snr": 30}}, "give either eps or snr"),
        ({"objective": {"eps": 0.1}}, "belong to an attack"),
        ({"objective": {"attack": "fgsm", "snr": 500}}, "at most 140 dB"),
        ({"objective": {"metric": "weighted", "attack": "noise", "eps": 0.1, "weight": 2}}, "1"),
    ],
)
def test_bad_select_specs_are_one_line_usage_errors(over: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError) as info:
        load_select_spec(_spec(**over))
    assert message in str(info.value)


def test_halving_rungs_stop_where_eta_times_the_rung_no_longer_fits() -> None:
    assert Halving(eta=3, min_epochs=5).rungs(50) == [5, 15, 50]
    assert Halving(eta=3, min_epochs=2).rungs(6) == [2, 6]
    assert Halving(eta=2, min_epochs=1).rungs(3) == [1, 3]
    assert Halving(eta=2, min_epochs=1).rungs(8) == [1, 2, 4, 8]
    assert Halving(eta=3, min_epochs=10).rungs(6) == [6]


def test_objective_values_and_descriptions() -> None:
    clean = Objective()
    assert clean.value(0.8, None) == 0.8 and clean.describe() == "clean accuracy"
    robust = Objective(metric="robust", attack="fgsm", snr=33)
    assert robust.value(0.8, 0.3) == 0.3
    assert robust.describe() == "FGSM accuracy at 33 dB"
    mixed = Objective(metric="weighted", attack="pgd", eps=0.03, weight=0.25)
    assert mixed.value(0.8, 0.4) == pytest.approx(0.75 * 0.8 + 0.25 * 0.4)
    assert mixed.describe() == "0.75 x clean + 0.25 x PGD accuracy at eps 0.03"
    ae = mixed.attack_eval()
    assert ae is not None and ae.eps == [0.03] and ae.snr is None


def test_the_shipped_specs_load() -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    full = load_select_spec(root / "select_wrn_width.yaml")
    widths = {t.params["model.width"] for t in full.trials()}
    models = {t.params["model"] for t in full.trials()}
    assert widths == {1, 2, 4, 8} and models == {"wrn", "parseval_wrn"}
    assert full.rungs(full.trials()[0]) == [5, 15, 50]
    quick = load_select_spec(root / "select_wrn_width_quick.yaml")
    assert {t.params["model"] for t in quick.trials()} == {"wrn", "parseval_wrn"}
