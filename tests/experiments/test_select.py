"""`robusteye select` end to end on a tiny search: the files it writes, successive halving,
the hold-out never used by the search, kill -9 and resume, and the winner rebuilt from its
written spec."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from robusteye.cli import main
from robusteye.data import EyeDataset, load_dataset
from robusteye.experiments import ResultsStore, RunOptions
from robusteye.experiments.selection import SelectResult, run_selection, selection_folds
from robusteye.experiments.selection.spec import load_select_spec
from tests.conftest import comparable

# 3 trials x 2 folds; halving keeps the best 2 after 1 epoch, then trains them to 2 epochs.
TINY_SELECT: dict[str, Any] = {
    "name": "tiny_select",
    "data": "synthetic:n=160",
    "holdout": 0.25,
    "folds": 2,
    "train": {"epochs": 2, "batch_size": 32, "augment": False, "schedule": "cosine"},
    "search": {"space": {"lr": [0.02, 0.05, 0.1]}, "halving": {"eta": 2, "min_epochs": 1}},
    "objective": {"metric": "weighted", "attack": "fgsm", "eps": 0.03, "limit": 20},
    "evaluation": {"attacks": [{"name": "noise", "snr": [30.0]}]},
}
N_TASKS = 3 * 2 + 2 * 2


@pytest.fixture(scope="module")
def select_spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("select") / "tiny_select.yaml"
    path.write_text(yaml.safe_dump(TINY_SELECT))
    return path


@pytest.fixture(scope="module")
def tiny_select(tmp_path_factory: pytest.TempPathFactory) -> SelectResult:
    out = tmp_path_factory.mktemp("runs") / "tiny_select"
    return run_selection(load_select_spec(TINY_SELECT), out, RunOptions(report=True))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_search_writes_rows_tables_ranking_winner_and_report(tiny_select: SelectResult) -> None:
    out = tiny_select.out
    rows = [r.to_dict() for r in tiny_select.rows]
    assert len(rows) == N_TASKS and tiny_select.ran == N_TASKS and tiny_select.skipped == 0
    first = [r for r in rows if r["epochs"] == 1]
    second = [r for r in rows if r["epochs"] == 2]
    assert len(first) == 6 and len(second) == 4
    for r in rows:
        m = r["metrics"]
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["robust_accuracy"] <= 1
        assert m["objective"] == pytest.approx(0.5 * m["accuracy"] + 0.5 * m["robust_accuracy"])
        assert len(r["history"]) == r["epochs"] and r["n_attacked"] == 20
    # trials.csv: one row per trial, fold and rung, like the study's logs
    flat = _read_csv(out / "trials.csv")
    assert len(flat) == N_TASKS
    assert {"trial", "fold", "epochs", "lr", "accuracy", "val_loss", "train_loss"} <= set(flat[0])
    assert len(_read_csv(out / "curves.csv")) == sum(len(r["history"]) for r in rows)
    # ranking: mean and std across folds of every metric, finished trials first
    ranking = tiny_select.ranking
    assert [e["rank"] for e in ranking] == [1, 2, 3]
    assert [e["completed"] for e in ranking] == [True, True, False]
    for e in ranking:
        finals = [r for r in rows if r["trial"] == e["trial"] and r["epochs"] == e["epochs"]]
        values = [r["metrics"]["accuracy"] for r in finals]
        assert e["metrics"]["accuracy"]["mean"] == pytest.approx(np.mean(values))
        assert e["metrics"]["accuracy"]["std"] == pytest.approx(np.std(values, ddof=1))
    assert ranking[0]["metrics"]["objective"]["mean"] >= ranking[1]["metrics"]["objective"]["mean"]
    assert len(_read_csv(out / "ranking.csv")) == 3
    # the loser of rung 1 is the trial with the lowest mean objective after one epoch
    after_one = {
        t: np.mean([r["metrics"]["objective"] for r in first if r["trial"] == t])
        for t in ("t000", "t001", "t002")
    }
    assert ranking[2]["trial"] == min(after_one, key=lambda t: after_one[t])
    # the winner: spec written, retrained, scored on the hold-out
    winner = tiny_select.winner
    assert winner is not None and winner["trial"] == ranking[0]["trial"]
    spec = yaml.safe_load((out / "winner.yaml").read_text())
    assert spec["kind"] == "train" and spec["train"]["lr"] == winner["params"]["lr"]
    holdout = winner["holdout"]
    assert holdout["eval_set"] == "holdout" and holdout["n"] > 0
    assert [c["attack"] for c in holdout["attacks"]] == ["fgsm", "noise"]
    assert (out / "winner" / "last" / "model.safetensors").is_file()
    assert not (out / "trials").exists(), "trainer state is removed when the search ends"
    selection = json.loads((out / "selection.json").read_text())
    assert selection["winner"]["trial"] == winner["trial"]
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3
    assert winner["trial"] in html and "Hold-out" in html


def test_hold_out_persons_are_outside_every_fold(tiny_select: SelectResult) -> None:
    splits = json.loads((tiny_select.out / "splits.json").read_text())
    holdout = set(splits["holdout"])
    assert holdout
    for fold in splits["folds"]:
        assert not holdout & (set(fold["train"]) | set(fold["test"]))
    winner_splits = json.loads((tiny_select.out / "winner" / "splits.json").read_text())
    assert set(winner_splits["test"]) == holdout
    assert set(winner_splits["train"]) == set(splits["folds"][0]["train"]) | set(
        splits["folds"][0]["test"]
    )


def test_the_search_never_reads_the_hold_out_images(
    tiny_select: SelectResult, tmp_path: Path
) -> None:
    """Hold-out images replaced by noise: every search row is unchanged; only the winner's
    hold-out score moves."""
    spec = load_select_spec(TINY_SELECT)
    data = load_dataset(spec.data)
    _, splits = selection_folds(data, spec)
    held = np.flatnonzero(np.isin(np.array(data.persons), splits["holdout"]))
    images = data.images.clone()
    images[held] = torch.rand(
        len(held), *images.shape[1:], generator=torch.Generator().manual_seed(9)
    )
    scrambled = EyeDataset(
        images, data.labels, data.classes, data.persons, data.sources, dict(data.meta)
    )
    other = run_selection(spec, tmp_path / "scrambled", data=scrambled)
    assert comparable(other.rows) == comparable(tiny_select.rows)
    assert other.winner is not None and tiny_select.winner is not None
    assert other.winner["trial"] == tiny_select.winner["trial"]
    a, b = other.winner["holdout"]["clean"], tiny_select.winner["holdout"]["clean"]
    assert a["loss"] != b["loss"], "the winner is scored on the (changed) hold-out images"


def test_rerun_resumes_everything_and_changes_nothing(tiny_select: SelectResult) -> None:
    again = run_selection(load_select_spec(TINY_SELECT), tiny_select.out)
    assert again.ran == 0 and again.skipped == N_TASKS
    assert comparable(again.rows) == comparable(tiny_select.rows)
    assert again.ranking == tiny_select.ranking


def test_a_different_spec_in_the_same_folder_is_refused(tiny_select: SelectResult) -> None:
    changed = {**TINY_SELECT, "folds": 3}
    code = main(["select", _write(tiny_select.out.parent / "other.yaml", changed),
                 "--out", str(tiny_select.out), "--no-progress"])  # fmt: skip
    assert code == 2


def _write(path: Path, spec: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def _command(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "robusteye", "select", str(spec), "--out", str(out),
            "--no-progress", *extra]  # fmt: skip


def test_kill_9_mid_search_then_rerun_matches_an_uninterrupted_search(
    select_spec_file: Path, tiny_select: SelectResult, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    store = ResultsStore(out / "results.jsonl")
    proc = subprocess.Popen(_command(select_spec_file, out, "--no-report"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        # kill after some rows, while a trial's trainer state is on disk (mid-trial)
        while time.monotonic() < deadline and proc.poll() is None:
            if store.path.exists() and len(store.rows()) >= 2 and list(out.glob("trials/*/*/last")):
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    done_before = len(ResultsStore(store.path).rows())
    assert 2 <= done_before < N_TASKS, "the kill should land in the middle of the search"
    second = subprocess.run(
        _command(select_spec_file, out), capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stderr
    assert f"resuming: {done_before} trial-fold task(s) already done" in second.stderr
    assert comparable(ResultsStore(store.path).rows()) == comparable(tiny_select.rows)
    assert "winning spec:" in second.stdout and "hold-out" in second.stdout
    assert (out / "report.html").is_file()


def test_winner_retrained_from_the_written_spec_is_identical(
    tiny_select: SelectResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rebuilt"
    spec = tiny_select.out / "winner.yaml"
    assert main(["train", "--spec", str(spec), "--out", str(out), "--no-progress"]) == 0
    assert "hold-out (" in capsys.readouterr().out
    weights = "last/model.safetensors"
    assert (out / weights).read_bytes() == (tiny_select.out / "winner" / weights).read_bytes()
    mine = json.loads((out / "evaluation.json").read_text())
    theirs = json.loads((tiny_select.out / "winner" / "evaluation.json").read_text())
    assert comparable([{**mine, "id": 0}]) == comparable([{**theirs, "id": 0}])


def test_train_spec_flags_override_the_spec_and_the_resolved_spec_is_saved(
    tiny_select: SelectResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(tiny_select.out / "winner.yaml")
    out = tmp_path / "x"
    flags = ["--lr", "0.3", "--epochs", "1", "--seed", "4", "--hflip", "--no-progress"]
    assert main(["train", "--spec", spec, "--out", str(out), *flags]) == 0
    assert "lr=0.3" in capsys.readouterr().err
    resolved = yaml.safe_load((out / "spec.yaml").read_text())
    written = yaml.safe_load((tiny_select.out / "winner.yaml").read_text())
    assert resolved["train"] == {**written["train"], "lr": 0.3, "epochs": 1, "hflip": True}
    assert resolved["seed"] == 4 and resolved["model"] == written["model"]
    curves = (out / "curves.csv").read_text().strip().splitlines()
    assert len(curves) == 2 and curves[1].split(",")[1] == "0.3"  # one epoch at lr 0.3
    weights = "last/model.safetensors"
    assert (out / weights).read_bytes() != (tiny_select.out / "winner" / weights).read_bytes()
    # the run folder keeps its spec: resuming with other flags is refused, untouched
    before = (out / weights).read_bytes()
    assert main(["train", "--spec", spec, "--out", str(out), "--resume", "--lr", "0.2"]) == 2
    assert "holds a run made with a different training spec: seed, train differ" in (
        capsys.readouterr().err
    )
    assert (out / weights).read_bytes() == before
    # and the saved spec rebuilds the same model
    again = tmp_path / "again"
    assert main(["train", "--spec", str(out / "spec.yaml"), "--out", str(again),
                 "--no-progress"]) == 0  # fmt: skip
    assert (again / weights).read_bytes() == before
    assert main(["train", "--out", str(tmp_path / "y")]) == 2
    assert "give --model (or --spec)" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()


def test_cli_dry_run_lists_trials_and_rungs(
    select_spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["select", str(select_spec_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "t000  lr=0.02" in out and "t002  lr=0.1" in out
    assert "3 trials x 2 folds; epochs per rung: 1/2" in out


def test_report_verb_recognises_a_selection_run(
    tiny_select: SelectResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tiny_select.out), "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
    assert len(list((tmp_path / "r" / "figures").glob("*.png"))) == 3


@pytest.mark.slow
def test_worker_processes_and_ray_give_the_same_search(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    train = {**TINY_SELECT["train"], "epochs": 2}
    spec = {**TINY_SELECT, "search": {"space": {"lr": [0.02, 0.1]}, "halving": {"eta": 2}},
            "train": train}  # fmt: skip
    workers = run_selection(
        load_select_spec(spec), tmp_path / "two", RunOptions(workers=2), retrain=False
    )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a local Ray, ours
    try:
        on_ray = run_selection(
            load_select_spec(spec), tmp_path / "ray", RunOptions(backend="ray"), retrain=False
        )
    finally:
        ray.shutdown()
    assert len(workers.rows) == 2 * 2 + 1 * 2  # halving: 2 trials, then the better one
    assert comparable(on_ray.rows) == comparable(workers.rows)

    def timeless(ranking: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**e, "metrics": {k: v for k, v in e["metrics"].items() if k != "seconds"}}
                for e in ranking]  # fmt: skip

    assert timeless(on_ray.ranking) == timeless(workers.ranking)
