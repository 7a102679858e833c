"""Registry, configs and the contract every registered model keeps."""

from __future__ import annotations

import pytest
import torch

from robusteye.errors import DataError, UsageError
from robusteye.models import (
    STUDY_CLASSES,
    ConvexMerge,
    ModelConfig,
    create_model,
    list_models,
)

BIG = {"wrn_28_10", "parseval_wrn_28_10"}
FAST_MODELS = [n for n in list_models() if n not in BIG]


def test_list_models_is_sorted_and_complete() -> None:
    names = list_models()
    assert names == sorted(names)
    for required in (
        "wrn",
        "wrn_16_1",
        "wrn_28_10",
        "parseval_wrn",
        "parseval_wrn_16_1",
        "cnn",
        "parseval_cnn",
    ):
        assert required in names


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(UsageError, match=r"unknown model 'resnet50' \(known: .*wrn_16_1"):
        create_model("resnet50")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"depth": 15}, r"'depth' must be an int >= 10 with \(depth - 4\) % 6 == 0"),
        ({"widht": 2}, r"unknown parameter\(s\) \['widht'\]"),
        ({"dropout": 1.0}, r"'dropout' must lie in \[0, 1\)"),
        ({"std": 0.0}, r"std must be a finite number > 0"),
        ({"classes": ("a", "b")}, r"classes must be 4 names"),
    ],
)
def test_bad_overrides_are_refused(overrides: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        create_model("wrn_16_1", **overrides)


def test_parseval_only_parameters() -> None:
    with pytest.raises(UsageError, match=r"unknown parameter\(s\) \['beta'\]"):
        create_model("wrn_16_1", beta=1e-3)
    with pytest.raises(UsageError, match=r"'beta' must lie in \(0, 0.5\]"):
        create_model("parseval_wrn_16_1", beta=0.9)
    with pytest.raises(UsageError, match=r"'convex' must be one of"):
        create_model("parseval_wrn_16_1", convex="mean")


def test_parameter_counts() -> None:
    counts = {n: sum(p.numel() for p in create_model(n).parameters()) for n in FAST_MODELS}
    assert counts["wrn_16_1"] == 174_388  # the study's "about 0.17M"
    assert counts["wrn"] == counts["wrn_16_1"]
    assert counts["parseval_wrn_16_1"] == 174_388 + 6 * 2  # plus one merge pair per block
    assert counts["cnn"] == counts["parseval_cnn"] == 651_748
    two = sum(p.numel() for p in create_model("wrn_16_1", num_classes=2).parameters())
    assert two == 174_388 - 2 * 65


def test_config_defaults_and_round_trip() -> None:
    model = create_model("parseval_wrn_16_1", mean=0.4, std=0.2, beta=1e-3)
    cfg = model.config
    assert (cfg.arch, cfg.mean, cfg.std, cfg.params["beta"]) == ("parseval_wrn", 0.4, 0.2, 1e-3)
    assert cfg.params["convex"] == "simplex" and cfg.params["constrain_classifier"] is False
    assert cfg.classes == STUDY_CLASSES
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert create_model("cnn", num_classes=3).config.classes == ("class_0", "class_1", "class_2")
    assert float(model.normalize.std.flatten()[0]) == pytest.approx(0.2)


def test_study_classes_match_data_stage() -> None:
    dataset = pytest.importorskip("robusteye.data.dataset", reason="data stage not importable")
    assert dataset.STUDY_CLASSES == STUDY_CLASSES


def test_wrong_input_shape_is_one_clear_error() -> None:
    with pytest.raises(
        DataError, match=r"expects images N x 1 x H x W, got shape \(2, 3, 32, 32\)"
    ):
        create_model("cnn")(torch.rand(2, 3, 32, 32))


def _contract(name: str, num_classes: int, batch: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes)
    x = torch.rand(batch, 1, 32, 32)
    logits = model(x)
    assert logits.shape == (batch, num_classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} gets no gradient"
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9).step()
    model.apply_constraints()
    after = model.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values())
    assert any(not torch.equal(before[k], after[k]) for k in before)
    for m in model.modules():
        if isinstance(m, ConvexMerge):
            w = m.coefficients().detach()
            assert (w >= 0).all() and float(w.sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("name", FAST_MODELS)
def test_model_contract(name: str, num_classes: int) -> None:
    _contract(name, num_classes, batch=4)


def test_wrn_28_10_size() -> None:
    # Built on the meta device: shapes only, no memory and no init cost.
    with torch.device("meta"):
        n = sum(p.numel() for p in create_model("wrn_28_10").parameters())
    assert 36.4e6 < n < 36.6e6


def test_models_deepcopy_and_pickle():
    import copy
    import pickle

    import torch

    from robusteye.models import create_model

    model = create_model("parseval_wrn_16_1", 4).eval()
    x = torch.rand(2, 1, 32, 32)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.config == model.config
        assert torch.equal(clone(x), model(x))


def test_seeded_creation_is_reproducible_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = create_model("parseval_wrn_16_1", 4, seed=7)
    b = create_model("parseval_wrn_16_1", 4, seed=7)
    c = create_model("parseval_wrn_16_1", 4, seed=8)
    assert torch.equal(torch.rand(1), expected_next)  # the caller's RNG did not move
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    pairs = zip(a.parameters(), c.parameters(), strict=True)
    assert any(not torch.equal(pa, pc) for pa, pc in pairs)
