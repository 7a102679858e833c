"""Hostile input, second pass (issue 14): checkpoints, documents, devices, grids and FIFOs.

A checkpoint's config sets the size of the model built before its weights are read, so every
size is bounded and the weights' header is checked on the meta device first; JSON and YAML
nested absurdly deep are one line; a model whose outputs overflow is an error, never `NaN` in
a JSON document; a device this torch lacks, a grid of 1e8 cells and a FIFO each end in one
line. Every test runs the real CLI, in-process or as a real process with a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from robusteye.models import create_model, save_model
from tests.cli.bad_input import assert_error, assert_only, run_cli, write_png

ROBUSTEYE = [sys.executable, "-m", "robusteye"]
DEEP_JSON = "[" * 200_000 + "]" * 200_000
DEEP_YAML = "a: " + DEEP_JSON + "\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(create_model("wrn_16_1", 4, seed=0), tmp_path_factory.mktemp("ck") / "ck")


def _edited(checkpoint: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], object]) -> Path:
    folder = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    doc = json.loads((folder / "config.json").read_text())
    edit(doc["model"])
    (folder / "config.json").write_text(json.dumps(doc))
    return folder


# ---- defect 6: a config that asks for an enormous model --------------------------------------


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda m: m["params"].update(width=10**9), r"'width' must be at most 32, got 1000000000"),
        (lambda m: m["params"].update(depth=60004), r"'depth' must be at most 100, got 60004"),
        (lambda m: m.update(in_channels=10**7), r"in_channels must be an int in 1\.\.4"),
        (lambda m: m.update(num_classes=10**9), r"num_classes must be an int in 2\.\.1000"),
        (
            lambda m: m["params"].update(width=32, depth=100),
            r"the config describes [\d,]+ parameters \(at most 100,000,000\)",
        ),
    ],
    ids=["width-1e9", "depth-60004", "in-channels-1e7", "classes-1e9", "wrn-100-32"],
)
def test_enormous_model_configs_are_refused(
    checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, Any]], object],
    pattern: str,
) -> None:
    folder = _edited(checkpoint, tmp_path, edit)
    assert_error(run_cli(capsys, "evaluate", folder, "--data", "synthetic:n=40"), 1, pattern)


_PEAK = (
    "import resource, sys\n"
    "from robusteye.errors import CheckpointError\n"
    "from robusteye.models import load_model\n"
    "try:\n    load_model(sys.argv[1])\nexcept CheckpointError as err:\n    print(err)\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
)


def _peak_kb(folder: Path) -> tuple[str, int]:
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, str(folder)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    *message, peak = proc.stdout.strip().splitlines()
    return " ".join(message), int(peak)


def test_weights_header_is_checked_before_the_model_is_built(
    checkpoint: Path, tmp_path: Path
) -> None:
    """A WRN-28-10 config (146 MB of weights) over WRN-16-1 weights: refused from the header,
    without building the large model (peak memory as for loading the small one)."""
    folder = _edited(
        checkpoint,
        tmp_path,
        lambda m: m.update(name="wrn_28_10", params={"depth": 28, "width": 10}),
    )
    message, peak = _peak_kb(folder)
    _, baseline = _peak_kb(checkpoint)
    assert "has shape" in message and "config expects" in message
    assert peak - baseline < 60_000, (peak, baseline)  # kB; building it would add ~150 MB


# ---- defect 7: documents nested 200,000 levels deep ------------------------------------------


def test_deep_checkpoint_config(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    (folder / "config.json").write_text(DEEP_JSON)
    run = run_cli(capsys, "evaluate", folder, "--data", "synthetic:n=40")
    assert_error(run, 1, r"config\.json is not valid JSON \(nested too deeply")


def test_deep_split_file(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "splits.json").write_text(DEEP_JSON)
    run = run_cli(
        capsys, "evaluate", checkpoint, "--data", "synthetic:n=40",
        "--split", tmp_path / "splits.json",
    )  # fmt: skip
    assert_error(run, 2, r"splits\.json is not valid JSON \(nested too deeply")


def test_deep_results_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = Path(__file__).parents[1] / "results" / "results_samples.jsonl"
    row = samples.read_text().splitlines()[0]  # a real cell row, so line 1 reads
    (tmp_path / "results.jsonl").write_text(f"{row}\n{DEEP_JSON}\n{row}\n")
    run = run_cli(capsys, "report", tmp_path)
    assert_error(run, 1, r"line 2 is not a result row: not valid JSON \(nested too deeply")


def test_deep_run_spec(
    tiny_spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "spec.yaml").write_text(DEEP_YAML)
    run = run_cli(capsys, "experiment", tiny_spec_file, "--out", tmp_path / "run")
    assert_error(run, 2, r"spec\.yaml is damaged; choose another --out")


def test_deep_training_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = ["train", "--model", "wrn", "--epochs", "2", "--batch-size", "32", "--no-progress"]
    args = [*train, "--data", "synthetic:n=48", "--out", tmp_path / "run"]
    assert run_cli(capsys, *args[:4], "1", *args[5:])[0] == 0  # one epoch of two
    (tmp_path / "run" / "last" / "training_state.json").write_text(DEEP_JSON)
    run = run_cli(capsys, *args, "--resume")
    assert_error(
        run, 1, r"training_state\.json is not valid JSON \(nested too deeply", log_lines=True
    )


def test_yaml_alias_bomb_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A "billion laughs" spec: nine levels of ten aliases each are 10^9 values once walked."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    run = run_cli(capsys, "experiment", tmp_path / "bomb.yaml", "--out", tmp_path / "run")
    assert_error(run, 2, r"bomb\.yaml: not valid YAML \(more than 5,000,000 values\)")
    assert_only(tmp_path, "bomb.yaml")


# ---- defect 8: outputs that overflow ---------------------------------------------------------


def test_normalisation_that_overflows_is_refused(
    checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _edited(checkpoint, tmp_path, lambda m: m.update(mean=3e38, std=1e-30))
    run = run_cli(capsys, "evaluate", folder, "--data", "synthetic:n=40")
    assert_error(run, 1, r"mean must be a finite number in \[-10, 10\], got 3e\+38")


@pytest.fixture
def overflowing(checkpoint: Path, tmp_path: Path) -> Path:
    """Finite weights whose logits overflow to infinity (a classifier weight of 3e38)."""
    folder = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    tensors = load_file(folder / "model.safetensors")
    name = next(k for k, v in tensors.items() if v.ndim == 2)  # the classifier
    tensors[name] = torch.full_like(tensors[name], 3e38)
    save_file(tensors, folder / "model.safetensors")
    return folder


def test_predict_json_never_prints_nan(
    overflowing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = write_png(tmp_path / "eye.png", 200)
    rc, out, err = run_cli(capsys, "predict", overflowing, image, "--json")
    assert_error((rc, out, err), 1, r"the model's outputs are not finite \(NaN or Inf\) on 1 of 1")
    assert "NaN" not in out and "Infinity" not in out


def test_evaluate_with_overflowing_outputs(
    overflowing: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = run_cli(capsys, "evaluate", overflowing, "--data", "synthetic:n=40")
    assert_error(run, 1, r"outputs are not finite \(NaN or Inf\) on 40 of 40 images")


# ---- defect 11: grids of 1e8 points ----------------------------------------------------------


def test_experiment_dry_run_counts_before_expanding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "name": "huge",
        "models": ["wrn_16_1"],
        "regimes": [
            {"kind": "standard"},
            {
                "kind": "augment",
                "perturbation": "noise",
                "eps": [round(0.5 * (i + 1) / 20_000, 9) for i in range(20_000)],
                "percent": [1 + i % 100 for i in range(10_000)],
            },
        ],
    }
    (tmp_path / "huge.yaml").write_text(yaml.safe_dump(spec))
    run = run_cli(capsys, "experiment", tmp_path / "huge.yaml", "--dry-run")
    assert_error(run, 2, r"the augment regime's grid has 200,000,000 points \(at most 100,000\)")


def test_select_dry_run_counts_before_expanding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    space = {
        "lr": [round(0.001 * (i + 1), 6) for i in range(10_000)],
        "weight_decay": [round(1e-6 * (i + 1), 9) for i in range(10_000)],
    }
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"name": "s", "search": {"space": space}}))
    run = run_cli(capsys, "select", tmp_path / "s.yaml", "--dry-run")
    assert_error(run, 2, r"the search has 100,000,000 trials \(at most 10,000\)")


def test_cells_across_models_folds_and_seeds_are_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "name": "wide",
        "folds": 100,
        "seeds": list(range(1000)),
        "models": ["wrn_16_1", "cnn"],
        "regimes": [{"kind": "standard"}],
    }
    (tmp_path / "wide.yaml").write_text(yaml.safe_dump(spec))
    run = run_cli(capsys, "experiment", tmp_path / "wide.yaml", "--dry-run")
    assert_error(run, 2, r"the spec has 200,000 cells \(at most 100,000\)")


# ---- defect 12: FIFOs where files are read ---------------------------------------------------


def _run_with_timeout(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROBUSTEYE, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_predict_skips_a_fifo_instead_of_hanging(checkpoint: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "eye.png")
    write_png(tmp_path / "real.png", 90)
    proc = _run_with_timeout("predict", checkpoint, tmp_path / "eye.png", tmp_path / "real.png")
    assert proc.returncode == 1
    assert "eye.png: not a regular file (a FIFO)" in proc.stderr
    assert "real.png" in proc.stdout and "Traceback" not in proc.stderr


def test_spec_fifo_is_refused_instead_of_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "spec.yaml")
    proc = _run_with_timeout("experiment", tmp_path / "spec.yaml", "--dry-run")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'spec.yaml'}: not a regular file (a FIFO)"


# ---- defect 13: devices ----------------------------------------------------------------------


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has a CUDA device")


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["train", "--model", "wrn", "--device", "foo"], r"unknown device 'foo': use cpu, cuda"),
        (["train", "--model", "wrn", "--device", "cuda:x"], r"unknown device 'cuda:x'"),
        pytest.param(
            ["train", "--model", "wrn", "--device", "cuda"],
            r"device 'cuda' is not available: this torch is a CPU-only build",
            marks=NO_CUDA,
        ),
        pytest.param(
            ["predict", "CKPT", "IMAGE", "--device", "cuda"],
            r"device 'cuda' is not available",
            marks=NO_CUDA,
        ),
        pytest.param(
            ["experiment", "SPEC", "--device", "cuda"],
            r"device 'cuda' is not available",
            marks=NO_CUDA,
        ),
        (["experiment", "SPEC", "--device", "gpu", "--dry-run"], r"unknown device 'gpu'"),
    ],
    ids=["train-foo", "train-cuda-x", "train-cuda", "predict-cuda", "experiment-cuda", "gpu"],
)
def test_devices_this_torch_lacks(
    checkpoint: Path,
    tiny_spec_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    pattern: str,
) -> None:
    image = write_png(tmp_path / "in" / "eye.png")
    fill = {"CKPT": checkpoint, "IMAGE": image, "SPEC": tiny_spec_file}
    argv = [fill.get(a, a) for a in args]
    if args[0] != "predict":
        argv += ["--out", tmp_path / "run"]
    assert_error(run_cli(capsys, *argv), 2, pattern)
    assert not (tmp_path / "run").exists()


# ---- defect 9: only the README's image formats reach a decoder --------------------------------


def test_postscript_named_png_never_reaches_a_decoder(tmp_path: Path) -> None:
    from PIL import Image

    from robusteye.data.imageio import read_image
    from robusteye.errors import DataError

    eps = tmp_path / "eye.png"
    # a valid EPS header: Pillow's EPS plugin (which runs Ghostscript) accepts it when asked
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n%%EOF\n")
    with Image.open(eps) as img:  # the unrestricted open identifies it as PostScript
        assert img.format == "EPS"
    with pytest.raises(DataError, match=r"eye\.png: not a readable image \(robusteye reads PNG"):
        read_image(eps)
