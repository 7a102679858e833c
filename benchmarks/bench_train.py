"""Training throughput: the Trainer against a plain hand-written loop, Parseval overhead, and
the cost of adversarial training, all on the same data in the same process.

Targets (issue 5): Trainer >= 0.95x the plain loop; Parseval <= 1.10x the time of a plain
WRN epoch; adversarial training (half of each batch FGSM) <= 1.6x a standard epoch.

    python -m benchmarks.bench_train [--n 1024] [--repeats 2]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from benchmarks.common import interleaved_best, markdown_table, write_result
from robusteye.data import load_dataset
from robusteye.models import create_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer


def plain_epoch(name: str, x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    """The baseline: the loop anyone would write by hand (shuffle, SGD, no extras)."""
    torch.manual_seed(0)
    model = create_model(name, 4).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    order = torch.randperm(x.shape[0])
    for i in range(0, x.shape[0], batch):
        idx = order[i : i + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def trainer_epoch(name: str, ds, batch: int, **options) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=1, batch_size=batch, val_fraction=0.0, augment=False, **options)
    Trainer(create_model(name, 4), cfg).fit(ds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    ds = load_dataset("synthetic", n=args.n, seed=2)
    x, y, b, r = ds.images, ds.labels, args.batch, args.repeats
    t = interleaved_best(
        {
            "plain loop wrn_16_1": lambda: plain_epoch("wrn_16_1", x, y, b),
            "trainer wrn_16_1": lambda: trainer_epoch("wrn_16_1", ds, b, channels_last=False),
            "trainer wrn_16_1 channels_last": lambda: trainer_epoch("wrn_16_1", ds, b),
            "plain loop parseval_wrn_16_1": lambda: plain_epoch("parseval_wrn_16_1", x, y, b),
            "trainer parseval_wrn_16_1": lambda: trainer_epoch("parseval_wrn_16_1", ds, b),
            "trainer wrn_16_1 adversarial": lambda: trainer_epoch(
                "wrn_16_1", ds, b, regime=RegimeConfig(kind="adversarial")
            ),
        },
        r,
    )
    base = t["trainer wrn_16_1 channels_last"]  # the trainer's default layout
    ratios = {
        "trainer wrn_16_1": t["plain loop wrn_16_1"] / t["trainer wrn_16_1"],
        "trainer wrn_16_1 channels_last": t["plain loop wrn_16_1"]
        / t["trainer wrn_16_1 channels_last"],
        "trainer parseval_wrn_16_1": t["trainer parseval_wrn_16_1"] / base,
        "plain loop parseval_wrn_16_1": t["plain loop parseval_wrn_16_1"]
        / t["plain loop wrn_16_1"],
        "trainer wrn_16_1 adversarial": t["trainer wrn_16_1 adversarial"] / base,
    }
    meaning = {
        "trainer wrn_16_1": "speed vs plain loop, both NCHW (target >= 0.95)",
        "trainer wrn_16_1 channels_last": "speed vs plain loop (the default layout)",
        "trainer parseval_wrn_16_1": "time vs trainer wrn_16_1 channels_last (target <= 1.10)",
        "plain loop parseval_wrn_16_1": "time vs plain loop wrn_16_1 (no constraints)",
        "trainer wrn_16_1 adversarial": "time vs standard channels_last epoch (target <= 1.6)",
    }
    rows = [
        {
            "run": k,
            "seconds": v,
            "images_per_s": args.n / v,
            "ratio": ratios.get(k, ""),
            "ratio_means": meaning.get(k, ""),
        }
        for k, v in t.items()
    ]
    path = write_result("train", rows, {"n_images": args.n, "batch_size": b})
    print(markdown_table(rows, ["run", "images_per_s", "ratio", "ratio_means"]))
    print(f"written {path}")


if __name__ == "__main__":
    main()
