"""Attack throughput against the physical limit of a gradient attack and against peers.

The limit is the best images/s over chunk sizes of a bare forward + backward to the input
(parameters frozen) in eval mode: FGSM needs exactly one of those per image, PGD-k needs k.
Peers (ART, torchattacks) run on the same model and batch when installed. Everything is
measured in one process, so the ratios hold on a noisy machine.

    python benchmarks/bench_attacks.py [--model wrn_16_1] [--n 256]
"""

from __future__ import annotations

import argparse
import copy
import importlib.util

import torch
import torch.nn.functional as F

from benchmarks.common import best_time, markdown_table, write_result
from robusteye.attacks import fgsm, pgd
from robusteye.data import load_dataset
from robusteye.models import create_model


def bare_grad(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int) -> None:
    for i in range(0, x.shape[0], chunk):
        xc = x[i : i + chunk].clone().requires_grad_(True)
        loss = F.cross_entropy(model(xc), y[i : i + chunk], reduction="sum")
        torch.autograd.grad(loss, xc)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="wrn_16_1")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    ds = load_dataset("synthetic", n=args.n, seed=1)
    x, y = ds.images, ds.labels
    model = create_model(args.model, ds.num_classes).eval()
    n, rows = x.shape[0], []

    frozen = copy.deepcopy(model).requires_grad_(False)
    limit, best_chunk = 0.0, 0
    for chunk in (16, 32, 64, 128, 256):
        ips = n / best_time(lambda c=chunk: bare_grad(frozen, x, y, c), args.repeats)
        rows.append({"method": f"bare fwd+bwd-to-input, chunk {chunk}", "images_per_s": ips})
        if ips > limit:
            limit, best_chunk = ips, chunk
    ours_fgsm = n / best_time(lambda: fgsm(model, x, y, 0.01), args.repeats)
    ours_pgd = n / best_time(lambda: pgd(model, x, y, 0.01, steps=10), args.repeats)
    rows += [
        {
            "method": "robusteye fgsm",
            "images_per_s": ours_fgsm,
            "ratio_to_limit": ours_fgsm / limit,
        },
        {
            "method": "robusteye pgd-10",
            "images_per_s": ours_pgd,
            "ratio_to_limit": ours_pgd * 10 / limit,
        },
    ]
    peers = _peers(model, x, y, args.repeats)
    for name, ips in peers.items():
        steps = 10 if "pgd" in name else 1
        rows.append({"method": name, "images_per_s": ips, "ratio_to_limit": ips * steps / limit})
    extra = {
        "model": args.model,
        "n_images": n,
        "limit_images_per_s": limit,
        "limit_chunk": best_chunk,
        "targets": {"fgsm": 0.95, "pgd_k_times_k": 0.95},
    }
    path = write_result("attacks", rows, extra)
    print(markdown_table(rows, ["method", "images_per_s", "ratio_to_limit"]))
    print(f"limit {limit:.1f} images/s at chunk {best_chunk}; written {path}")


def _peers(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    n = x.shape[0]
    if importlib.util.find_spec("art") is not None:
        from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
        from art.estimators.classification import PyTorchClassifier

        clf = PyTorchClassifier(
            model=copy.deepcopy(model),
            loss=torch.nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=int(y.max()) + 1,
            clip_values=(0.0, 1.0),
            device_type="cpu",
        )
        xn, yn = x.numpy(), y.numpy()
        fg = FastGradientMethod(clf, eps=0.01, batch_size=64)
        out["ART fgsm"] = n / best_time(lambda: fg.generate(xn, y=yn), repeats)
        pg = ProjectedGradientDescent(
            clf, eps=0.01, eps_step=0.0025, max_iter=10, batch_size=64, verbose=False
        )
        out["ART pgd-10"] = n / best_time(lambda: pg.generate(xn, y=yn), repeats)
    if importlib.util.find_spec("torchattacks") is not None:
        import torchattacks

        m = copy.deepcopy(model)
        out["torchattacks fgsm"] = n / best_time(
            lambda: torchattacks.FGSM(m, eps=0.01)(x, y), repeats
        )
        out["torchattacks pgd-10"] = n / best_time(
            lambda: torchattacks.PGD(m, eps=0.01, alpha=0.0025, steps=10)(x, y), repeats
        )
    return out


if __name__ == "__main__":
    main()
