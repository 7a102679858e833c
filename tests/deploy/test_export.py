"""Export of every family to ONNX and int8: parity with torch, the figures of export.json,
and the exported models classified and audited by robusteye."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robusteye.deploy import (
    FLOAT_TOLERANCE,
    ExportOptions,
    OnnxClassifier,
    choose_sets,
    export_model,
    frozen_copy,
)
from robusteye.evaluate.audit import audit
from robusteye.evaluate.predict import predict_logits
from robusteye.models import load_model
from tests.deploy.conftest import CLASSES, FAMILIES, toy_dataset


@pytest.mark.parametrize("name", ["parseval_wrn", "parseval_cnn", "lipschitz_cnn"])
def test_the_frozen_copy_computes_the_same_function_with_plain_layers(
    family_checkpoints: dict[str, Path], name: str
) -> None:
    model = load_model(family_checkpoints[name])
    frozen = frozen_copy(model)
    x = toy_dataset(64, seed=9).images
    assert torch.allclose(predict_logits(frozen, x), predict_logits(model, x), atol=1e-5)
    plain = {type(m) for m in frozen.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    assert plain <= {torch.nn.Conv2d, torch.nn.Linear}
    assert not any(hasattr(m, "effective_weight") for m in frozen.modules())
    # the model it was copied from keeps its reparametrised layers
    assert any(hasattr(m, "effective_weight") or type(m).__name__.startswith("Parseval")
               for m in model.modules())  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_exports_with_parity_and_an_audit(
    family_checkpoints: dict[str, Path], tmp_path: Path, name: str
) -> None:
    sets = choose_sets(
        CLASSES, data=(toy_dataset(120, seed=4, offset=10), "toy-parity"),
        calibration=(toy_dataset(160, seed=5), "toy-cal"), calibration_limit=128,
    )  # fmt: skip
    options = ExportOptions(
        int8=True, min_agreement=0.95, audit_snr=(10.0,), suite="quick", audit_limit=8
    )
    doc = export_model(family_checkpoints[name], tmp_path / "out", sets, options)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "export.json", "model.int8.onnx", "model.onnx",
    ]  # fmt: skip
    assert json.loads((out / "export.json").read_text()) == json.loads(json.dumps(doc))
    assert doc["float"]["max_abs_logit_diff"] <= FLOAT_TOLERANCE
    assert doc["float"]["accuracy"] == doc["float"]["accuracy_torch"] > 0.9
    assert doc["int8"]["agreement"] >= 0.95
    assert doc["int8"]["accuracy_drop"] == pytest.approx(
        doc["int8"]["accuracy_float"] - doc["int8"]["accuracy"]
    )
    # the files run by themselves, batch size free, logits as torch's
    model, exported = load_model(family_checkpoints[name]), OnnxClassifier(out / "model.onnx")
    x = toy_dataset(7, seed=11).images
    assert torch.allclose(exported(x), predict_logits(model, x), atol=FLOAT_TOLERANCE)
    assert exported.classes == CLASSES and exported.info.source["model"] == model.config.name
    row = doc["audit"]["rows"][0]
    assert row["snr_db"] == 10.0 and set(row) >= {"torch", "onnx", "int8"}
    for who in ("torch", "onnx", "int8"):
        assert 0.0 <= row[who]["worst_case"] <= row[who]["clean"]
    onnx_audit = doc["audit"]["details"]["onnx"]
    assert onnx_audit["settings"]["gradient_attacks"].startswith("crafted on the float source")


def test_calibration_never_uses_the_scoring_persons() -> None:
    scoring = toy_dataset(80, seed=4, persons=4)  # p00..p03
    cal = toy_dataset(160, seed=5, persons=8)  # p00..p07
    sets = choose_sets(CLASSES, data=(scoring, "s"), calibration=(cal, "c"))
    assert sets.calibration is not None
    assert set(sets.calibration.persons) == {f"p{i:02d}" for i in range(4, 8)}
    assert sets.record["calibration"]["how"] == "scoring persons left out (4)"
    # without --data, parity runs on persons set aside from the calibration data
    alone = choose_sets(CLASSES, data=None, calibration=(cal, "c"))
    assert alone.calibration is not None
    assert not set(alone.parity.persons) & set(alone.calibration.persons)


def test_a_transfer_audit_replays_the_source_models_examples(
    family_checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    ck = family_checkpoints["cnn"]
    sets = choose_sets(CLASSES, data=(toy_dataset(60, seed=4), "toy"), calibration=None)
    export_model(ck, tmp_path / "out", sets)
    model, exported = load_model(ck), OnnxClassifier(tmp_path / "out" / "model.onnx")
    ds = toy_dataset(40, seed=6)
    direct = audit(model, ds.images, ds.labels, [0.15], suite="quick")
    replayed = audit(exported, ds.images, ds.labels, [0.15], suite="quick", source=model)
    # the float export is the same function, so replaying gives the white-box figures
    for a, b in zip(direct.points[0].attacks[:2], replayed.points[0].attacks[:2], strict=True):
        assert a.accuracy == b.accuracy
    assert replayed.points[0].worst_accuracy < replayed.points[0].clean_accuracy
    assert any("replayed" in n for n in replayed.notes)
    with pytest.raises(RuntimeError):  # no gradient: a white-box attack cannot run on it
        audit(exported, ds.images, ds.labels, [0.15], suite="quick")
