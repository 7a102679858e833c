"""The grid runner end to end on a tiny spec: rows, splits, checkpoints, resume, refusal of a
foreign folder, and the same results from every backend."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robusteye.data import load_dataset
from robusteye.errors import UsageError
from robusteye.evaluate import predict_logits
from robusteye.experiments import RunOptions, RunResult, load_spec, run_experiment
from robusteye.models import load_model
from robusteye.results import CellRow
from tests.experiments.conftest import TINY, comparable


def test_rows_cover_every_cell_and_fold(tiny_run: RunResult) -> None:
    rows = [r.to_dict() for r in tiny_run.rows]
    cells = [r for r in rows if r["kind"] == "cell"]
    transfers = [r for r in rows if r["kind"] == "transfer"]
    assert sorted(r["id"] for r in cells) == [
        "wrn_16_1.adversarial-fgsm-e0.001-0.032-f0.5.f0.s0",
        "wrn_16_1.adversarial-fgsm-e0.001-0.032-f0.5.f1.s0",
        "wrn_16_1.standard.f0.s0",
        "wrn_16_1.standard.f1.s0",
    ]
    assert sorted(r["id"] for r in transfers) == ["transfer.f0.s0", "transfer.f1.s0"]
    assert tiny_run.ran == 6 and tiny_run.skipped == 0
    for row in cells:
        assert len(row["history"]) == 2 and row["eval_set"] == "fold test"
        fgsm, noise = row["attacks"]
        assert [p["eps"] for p in fgsm["points"]] == [0.01, 0.03, 0.1]
        snrs = [p["snr_db"] for p in fgsm["points"]]
        assert snrs[0] > snrs[1] > snrs[2] > 0  # stronger attack, lower SNR
        assert [p["target_snr_db"] for p in noise["points"]] == [30.0, 20.0]
        for p in noise["points"]:
            assert p["snr_db"] == pytest.approx(p["target_snr_db"], abs=0.05)
            assert p["metrics"]["n"] == 40 and len(p["roc"]["tpr"]) == 101
    for row in transfers:
        (matrix,) = row["matrices"]
        assert len(matrix["accuracy"]) == 2 and all(len(r) == 2 for r in matrix["accuracy"])


def test_splits_are_person_disjoint_and_match_the_rows(tiny_run: RunResult) -> None:
    splits = json.loads((tiny_run.out / "splits.json").read_text())
    data = load_dataset(TINY["data"])
    tests = [set(f["test"]) for f in splits["folds"]]
    assert tests[0].isdisjoint(tests[1]) and tests[0] | tests[1] == set(data.person_ids)
    for fold in splits["folds"]:
        assert set(fold["train"]).isdisjoint(fold["test"])
    for row in (r.to_dict() for r in tiny_run.rows if r.kind == "cell"):
        test_persons = tests[row["fold"]]
        assert row["n_eval"] == sum(p in test_persons for p in data.persons)


def test_checkpoint_reproduces_the_clean_accuracy(tiny_run: RunResult) -> None:
    splits = json.loads((tiny_run.out / "splits.json").read_text())
    data = load_dataset(TINY["data"])
    row = next(r.to_dict() for r in tiny_run.rows if r.id == "wrn_16_1.standard.f1.s0")
    model = load_model(tiny_run.out / row["checkpoint"])
    keep = np.array([p in set(splits["folds"][1]["test"]) for p in data.persons])
    ev = data.subset(np.flatnonzero(keep))
    acc = float((predict_logits(model, ev.images).argmax(1) == ev.labels).float().mean())
    assert acc == pytest.approx(row["clean"]["accuracy"], abs=1e-6)
    assert not (tiny_run.out / "cells" / row["id"] / "train").exists()  # resume state cleaned


def test_summary_is_the_mean_over_folds(tiny_run: RunResult) -> None:
    summary = json.loads((tiny_run.out / "summary.json").read_text())
    std = next(s for s in summary if s["variant"] == "wrn_16_1.standard")
    accs = [
        r.clean.accuracy
        for r in tiny_run.rows
        if isinstance(r, CellRow) and r.variant == "wrn_16_1.standard"
    ]
    assert std["n_folds"] == 2
    assert std["clean"]["accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert std["clean"]["accuracy"]["std"] == pytest.approx(np.std(accs))


def test_examples_for_the_image_grid(tiny_run: RunResult) -> None:
    with np.load(tiny_run.out / "examples.npz") as z:
        assert z["clean"].shape == (3, 1, 32, 32)
        assert z["fgsm_adv"].shape == (3, 3, 1, 32, 32)
        delta = np.abs(z["fgsm_adv"] - z["clean"][None]).reshape(3, -1).max(1)
        assert np.all(delta <= z["fgsm_eps"] + 1e-6)
        assert str(z["model"]) == "wrn_16_1.standard"


def test_rerun_skips_finished_cells(tiny_run: RunResult) -> None:
    again = run_experiment(load_spec(TINY), tiny_run.out)
    assert again.ran == 0 and again.skipped == 6
    assert comparable(again.rows) == comparable(tiny_run.rows)


def test_folder_of_another_spec_or_program_is_refused(tiny_run: RunResult, tmp_path: Path) -> None:
    other = copy.deepcopy(TINY)
    other["train"]["epochs"] = 3
    with pytest.raises(UsageError, match=r"different spec: train differ; choose another --out"):
        run_experiment(load_spec(other), tiny_run.out)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="holds no robusteye run"):
        run_experiment(load_spec(TINY), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_worker_processes_and_ray_give_the_same_results(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    spec = load_spec(TINY)
    local = run_experiment(spec, tmp_path / "local", RunOptions(workers=2))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a local Ray, ours
    try:
        on_ray = run_experiment(spec, tmp_path / "ray", RunOptions(backend="ray", cpus=1))
    finally:
        ray.shutdown()
    assert on_ray.ran == local.ran == 6
    assert comparable(on_ray.rows) == comparable(local.rows)
    assert torch.get_num_threads() >= 1


def test_backend_errors_are_clear(tmp_path: Path) -> None:
    spec = load_spec(TINY)
    with pytest.raises(UsageError, match="unknown backend 'slurm'"):
        run_experiment(spec, tmp_path / "a", RunOptions(backend="slurm"))
    with pytest.raises(UsageError, match="--ray-address needs --backend ray"):
        run_experiment(spec, tmp_path / "b", RunOptions(ray_address="auto"))


def test_any_spec_runs_on_two_class_data(tmp_path: Path) -> None:
    """--data overrides the spec's source; an open/closed set gives binary ROC curves."""
    four = load_dataset("synthetic:n=160")
    keep = [i for i, y in enumerate(four.labels.tolist()) if four.classes[y] in ("open", "closed")]
    sub = four.subset(keep)
    two = type(sub)(
        images=sub.images,
        labels=(sub.labels == four.classes.index("closed")).to(torch.int64),
        classes=("open", "closed"),
        persons=sub.persons,
    )
    path = two.save(tmp_path / "open_closed.npz")
    spec = load_spec(TINY, data=str(path))
    result = run_experiment(spec, tmp_path / "run")
    cells = [r.to_dict() for r in result.rows if r.kind == "cell"]
    assert len(cells) == 4 and all(r["classes"] == ["open", "closed"] for r in cells)
    for row in cells:
        assert len(row["clean"]["confusion"]) == 2
        assert row["roc"]["auc"] == pytest.approx(row["clean"]["roc_auc_macro"], abs=1e-9)
