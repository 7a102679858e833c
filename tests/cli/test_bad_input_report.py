"""Hostile input, third pass (issue 31): `robusteye report` (defects 3, 7, 11, 13 and 15).

The run folders are made from a real cell row (tests/results/results_samples.jsonl) copied into
a `results.jsonl` beside a `spec.yaml`, so no model is trained; every test runs the real CLI.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import robusteye.report.run as report_run
from tests.cli.bad_input import assert_error, run_cli

SAMPLE = Path(__file__).parents[1] / "results" / "results_samples.jsonl"


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    assert row["kind"] == "cell"
    row = copy.deepcopy(row)
    row.update(changes)
    return row


def _run(root: Path, row: dict[str, Any] | None = None) -> Path:
    """A run folder holding one cell row, its spec and an (unreadable) checkpoint folder, so
    the report writes a model card for the cell."""
    row = row or _row()
    root.mkdir(parents=True)
    (root / "results.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    spec = {"name": root.name, "data": "synthetic:n=120", "folds": 1, "seeds": [0]}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (root / "splits.json").write_text(json.dumps({"folds": []}), encoding="utf-8")
    model = root / row["checkpoint"]
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}", encoding="utf-8")
    return root


def _card(run: Path) -> Path:
    return run / _row()["checkpoint"] / "README.md"


# ---- defect 3: examples.npz is read through the checked .npz reader --------------------------


def _npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    out = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)  # type: ignore[no-untyped-call]
    return out.getvalue()


def _examples(path: Path, extra: dict[str, bytes]) -> None:
    """A valid examples.npz (one FGSM grid) plus raw `.npy` members `extra`."""
    rng = np.random.default_rng(0)
    clean = rng.random((4, 1, 32, 32), dtype=np.float32)
    arrays = {
        "clean": clean,
        "labels": np.arange(4),
        "classes": np.array(["open", "partiallyOpen", "closed", "notVisible"]),
        "model": np.array("cnn.standard"),
        "attacks": np.array(["fgsm"]),
        "fgsm_eps": np.array([0.03]),
        "fgsm_snr_db": np.array([30.0]),
        "fgsm_adv": np.clip(clean[None] + 0.01, 0, 1),
    }
    kept = {k: a for k, a in arrays.items() if k not in extra}
    np.savez_compressed(path, **kept)  # type: ignore[arg-type]
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in extra.items():
            zf.writestr(f"{name}.npy", data)


@pytest.mark.parametrize(
    "member",
    [
        "junk",  # unused, its header claims 8 TB: np.load read every member (MemoryError)
        "fgsm_adv",  # used, its header claims 8 TB: refused before a byte is allocated
        "bomb",  # unused, inflates to 256 MiB from a few hundred KB on disk
    ],
)
def test_report_reads_only_the_checked_members_of_examples_npz(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    member: str,
) -> None:
    run = _run(tmp_path / "run")
    if member == "bomb":
        data = _npy_header((32 << 20,)) + bytes(256 << 20)
    else:
        data = _npy_header((1_000_000, 1_000_000)) + bytes(64)
    _examples(run / "examples.npz", {member: data})
    del data
    assert (run / "examples.npz").stat().st_size < 2 << 20
    peaks: list[int] = []
    read = report_run._read_examples

    def measured(path: Path) -> Any:  # the peak memory of reading examples.npz alone
        tracemalloc.start()
        try:
            return read(path)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(report_run, "_read_examples", measured)
    rc, out, err = run_cli(capsys, "report", run)
    (peak,) = peaks
    assert rc == 0 and "Traceback" not in err, err
    assert out.strip() == str(run / "report.html")
    # np.load decompressed every member: over 256 MiB for the bomb
    assert peak < 32 << 20, f"reading examples.npz peaked at {peak / 2**20:.0f} MiB"
    figures = {p.name for p in (run / "figures").iterdir()}
    assert ("examples_fgsm.png" in figures) == (member != "fgsm_adv")


# ---- defect 7: an output the report cannot write: one line, nothing half-written -------------


@pytest.mark.parametrize("case", ["figures-is-a-file", "out-below-a-file", "out-read-only"])
def test_report_output_that_cannot_be_written_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    run = _run(tmp_path / "run")
    args: list[str | Path] = ["report", run]
    if case == "figures-is-a-file":
        (run / "figures").write_text("precious\n")
        code, pattern, page = 2, r"figures exists and is not a folder", run / "report.html"
    elif case == "out-below-a-file":
        (tmp_path / "file").write_text("precious\n")
        out = tmp_path / "file" / "out"
        args += ["--out", out]
        code, pattern, page = 2, r"cannot create .*out: a file is in the way", out / "report.html"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        out = tmp_path / "read-only"
        out.mkdir()
        out.chmod(0o555)
        args += ["--out", out]
        code, pattern, page = 1, r"cannot write to .*read-only", out / "report.html"
    assert_error(run_cli(capsys, *args), code, pattern)
    assert not page.exists()
    assert not _card(run).exists()  # nothing half-written: no card either
    if case == "figures-is-a-file":
        assert (run / "figures").read_text() == "precious\n"


# ---- defect 11: names reach a model card as text, never as Markdown or HTML ------------------


def test_model_card_escapes_every_name(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    img = "<img src=x onerror=alert(1)>"
    row = _row(
        label=f"{img} · standard",
        data="synthetic:n=240|*x*|`y`\n---\n<script>alert(2)</script>",
        eval_set="fold [test](javascript:alert(3))",
        model_options={"<b>": "a|b"},
    )
    run = _run(tmp_path / "run", row)
    rc, _, err = run_cli(capsys, "report", run)
    assert rc == 0 and "Traceback" not in err, err
    lines = _card(run).read_text(encoding="utf-8").split("\n")
    end = lines.index("---", 1)  # the first line that closes the front matter
    assert lines[0] == "---" and "---" not in lines[end + 1 :]
    header, body = "\n".join(lines[1:end]), "\n".join(lines[end + 1 :])
    assert "<img" not in body and "<script" not in body and "<b>" not in body
    assert "](javascript:" not in body and "`y`" not in body and "*x*" not in body
    assert "# &lt;img src=x onerror=alert\\(1\\)&gt; · standard — fold 0, seed 0\n" in body
    meta = yaml.safe_load(header)  # the front matter is YAML that reads back exactly
    (entry,) = meta["model-index"]
    assert entry["results"][0]["dataset"]["name"] == row["data"]
    assert entry["results"][0]["dataset"]["split"] == row["eval_set"]
    # every table row keeps its four cells: no name adds an unescaped `|`
    for line in body.splitlines():
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5, line


# ---- defect 13: a report links only to relative paths inside its run -------------------------


def _selection_run(root: Path, spec: str) -> Path:
    root.mkdir(parents=True)
    stat = {"mean": 0.5, "std": 0.1}
    winner = {
        "trial": "t000",
        "params": {"lr": 0.1},
        "cv": {"objective": stat, "accuracy": stat},
        "spec": spec,
        "checkpoint": "winner/model",
    }
    selection = {
        "name": "sel",
        "objective": "accuracy",
        "strategy": "grid",
        "trials": 1,
        "folds": 2,
        "winner": winner,
        "ranking": [],
    }
    (root / "selection.json").write_text(json.dumps(selection), encoding="utf-8")
    (root / "spec.yaml").write_text(yaml.safe_dump({"data": "synthetic:n=120"}), "utf-8")
    (root / "results.jsonl").write_text("", encoding="utf-8")
    (root / "winner.yaml").write_text("model: cnn\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "spec",
    ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "https://evil.example/x", "/etc/passwd",
     "../outside.yaml", "winner/../../outside.yaml", "//evil.example/x"],
)  # fmt: skip
def test_report_links_only_inside_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, spec: str
) -> None:
    run = _selection_run(tmp_path / "run", spec)
    rc, _, err = run_cli(capsys, "report", run)
    assert rc == 0 and "Traceback" not in err, err
    page = (run / "report.html").read_text(encoding="utf-8")
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs  # section anchors only
    # the same page links a spec that is a file in the run
    good = _selection_run(tmp_path / "good", "winner.yaml")
    assert run_cli(capsys, "report", good, "--out", tmp_path / "out")[0] == 0
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert 'href="../good/winner.yaml"' in page


# ---- defect 15: report takes the run folder's lock ------------------------------------------


def test_report_of_a_run_in_use_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = _run(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys\nfrom robusteye.folders import locked\n"
         "with locked(sys.argv[1]):\n    print('locked', flush=True)\n    sys.stdin.read()\n",
         str(run)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        result = run_cli(capsys, "report", run)
    finally:
        holder.communicate("")
    assert_error(result, 2, rf"is in use by another robusteye process \(pid {holder.pid}\)")
    assert not (run / "report.html").exists() and not (run / "figures").exists()
    assert not _card(run).exists()
