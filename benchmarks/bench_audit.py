"""Throughput of the audit's attacks against the physical limit, and of the suite against a
peer's equivalent run.

- APGD-k needs k forward + backward-to-input passes per image: its images/s x k is compared
  with the best bare forward + backward throughput over chunk sizes (goal >= 0.9).
- Square needs one forward per query per still-unbroken image: measured at an eps so small
  that no image breaks (every query is spent), against the best bare forward throughput.
- The suite (APGD-CE then Square on the points left, as in `robusteye audit`) against ART's
  AutoProjectedGradientDescent then SquareAttack with the same budgets on the same points
  (goal: no slower).

    python -m benchmarks.bench_audit [--model wrn_16_1] [--n 128]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import time

import numpy as np
import torch

from benchmarks.bench_attacks import bare_grad
from benchmarks.common import best_time, markdown_table, write_result
from robusteye.attacks import apgd, square
from robusteye.data import load_dataset
from robusteye.models import create_model


def bare_forward(model: torch.nn.Module, x: torch.Tensor, chunk: int) -> None:
    with torch.no_grad():
        for i in range(0, x.shape[0], chunk):
            model(x[i : i + chunk])


def suite(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, k: int, q: int):
    """APGD-CE on every point, then Square on those it missed; the robust mask."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        robust = model(x).argmax(1) == y
    rows = robust.nonzero().flatten()
    x_adv = apgd(model, x[rows], y[rows], eps, steps=k, generator=g)
    with torch.no_grad():
        robust[rows[model(x_adv).argmax(1) != y[rows]]] = False
    rows = robust.nonzero().flatten()
    if rows.numel():
        x_adv = square(model, x[rows], y[rows], eps, queries=q, generator=g)
        with torch.no_grad():
            robust[rows[model(x_adv).argmax(1) != y[rows]]] = False
    return robust


def art_suite(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, k: int, q: int):
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification import PyTorchClassifier

    clf = PyTorchClassifier(
        model=copy.deepcopy(model),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=tuple(x.shape[1:]),
        nb_classes=int(model(x[:1]).shape[1]),
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    xn, yn = x.numpy(), y.numpy()
    robust = clf.predict(xn).argmax(1) == yn
    rows = np.flatnonzero(robust)
    ap = AutoProjectedGradientDescent(
        clf, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=k, nb_random_init=1,
        batch_size=64, loss_type="cross_entropy", verbose=False,
    )  # fmt: skip
    adv = ap.generate(xn[rows], y=yn[rows])
    robust[rows[clf.predict(adv).argmax(1) != yn[rows]]] = False
    rows = np.flatnonzero(robust)
    if rows.size:
        sq = SquareAttack(clf, norm=np.inf, eps=eps, max_iter=q, nb_restarts=1, verbose=False)
        adv = sq.generate(xn[rows], y=yn[rows])
        robust[rows[clf.predict(adv).argmax(1) != yn[rows]]] = False
    return robust


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="wrn_16_1")
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    ds = load_dataset("synthetic", n=args.n, seed=1)
    x, y = ds.images, ds.labels
    model = create_model(args.model, ds.num_classes).eval()
    n, k, q, rows = x.shape[0], args.steps, args.queries, []

    frozen = copy.deepcopy(model).requires_grad_(False)
    grad_limit = max(
        n / best_time(lambda c=c: bare_grad(frozen, x, y, c), args.repeats) for c in (32, 64, 128)
    )
    fwd_limit = max(
        n / best_time(lambda c=c: bare_forward(frozen, x, c), args.repeats) for c in (64, 128, 256)
    )
    rows.append({"method": "bare fwd+bwd-to-input (best chunk)", "images_per_s": grad_limit})
    rows.append({"method": "bare forward (best chunk)", "images_per_s": fwd_limit})
    t = best_time(lambda: apgd(model, x, y, 0.01, steps=k), args.repeats)
    rows.append(
        {
            "method": f"robusteye apgd-ce {k}",
            "images_per_s": n / t,
            "ratio_to_limit": n * k / t / grad_limit,
        }
    )
    t = best_time(lambda: square(model, x, y, 1e-6, queries=q), 1, warmup=0)
    rows.append(
        {"method": f"robusteye square {q} (no image breaks)", "images_per_s": n / t,
         "ratio_to_limit": n * q / t / fwd_limit}
    )  # fmt: skip
    eps = 8 / 255
    start = time.perf_counter()
    ours = suite(model, x, y, eps, k, q)
    t_ours = time.perf_counter() - start
    rows.append(
        {
            "method": f"robusteye apgd-ce {k} + square {q}, eps 8/255",
            "seconds": t_ours,
            "robust_accuracy": float(ours.float().mean()),
        }
    )
    extra = {
        "model": args.model,
        "n_images": n,
        "grad_limit": grad_limit,
        "forward_limit": fwd_limit,
        "targets": {"apgd_k_times_k": 0.9, "suite_vs_peer": 1.0},
    }
    if importlib.util.find_spec("art") is not None:
        start = time.perf_counter()
        theirs = art_suite(model, x, y, eps, k, q)
        t_art = time.perf_counter() - start
        rows.append(
            {
                "method": f"ART apgd-ce {k} + square {q}, eps 8/255",
                "seconds": t_art,
                "robust_accuracy": float(theirs.mean()),
                "ratio_to_limit": t_art / t_ours,
            }
        )
        extra["suite_speedup_vs_art"] = t_art / t_ours
    path = write_result("audit", rows, extra)
    print(
        markdown_table(
            rows, ["method", "images_per_s", "seconds", "robust_accuracy", "ratio_to_limit"]
        )
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
