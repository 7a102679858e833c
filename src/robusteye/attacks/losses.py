"""Per-example attack losses on logits, higher meaning better for the attacker.

- `ce`: cross-entropy of the true class (targeted: minus the cross-entropy of the target).
- `dlr`: the Difference of Logits Ratio of Croce & Hein (ICML 2020, arXiv:2003.01690),
  invariant to shifting and scaling the logits, so a model that saturates its softmax (logits
  x 1e4) cannot hide behind a flat cross-entropy. Needs >= 3 classes (targeted: >= 4).
- `margin`: the logit margin max_{i != y} z_i - z_y (targeted: z_t - z_y), positive once the
  point is misclassified; the fall-back for DLR on models with too few classes. Not
  scale-invariant, but its gradient does not vanish when the softmax saturates.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from robusteye.errors import UsageError

LOSSES = ("ce", "dlr", "margin")


def effective_loss(loss: str, num_classes: int, targeted: bool = False) -> tuple[str, str | None]:
    """(the loss used, a one-line note when it had to differ from `loss`)."""
    if loss not in LOSSES:
        raise UsageError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    need = 4 if targeted else 3
    if loss == "dlr" and num_classes < need:
        kind = "targeted DLR" if targeted else "DLR"
        return "margin", (
            f"{kind} needs at least {need} classes; with {num_classes} the logit margin is used"
        )
    return loss, None


def _other_max(logits: Tensor, y: Tensor) -> Tensor:
    return logits.scatter(1, y[:, None], float("-inf")).amax(1)


def attack_loss(name: str, logits: Tensor, y: Tensor, target: Tensor | None = None) -> Tensor:
    """The loss `name` per example (shape N), towards `target` when one is given."""
    z_y = logits.gather(1, y[:, None]).squeeze(1)
    if name == "ce":
        if target is None:
            return F.cross_entropy(logits, y, reduction="none")
        return -F.cross_entropy(logits, target, reduction="none")
    if name == "margin":
        if target is None:
            return _other_max(logits, y) - z_y
        return logits.gather(1, target[:, None]).squeeze(1) - z_y
    if name == "dlr":
        top = logits.sort(1, descending=True).values
        if target is None:
            return -(z_y - _other_max(logits, y)) / (top[:, 0] - top[:, 2] + 1e-12)
        z_t = logits.gather(1, target[:, None]).squeeze(1)
        return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)
    raise UsageError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")


def logit_margin(logits: Tensor, y: Tensor) -> Tensor:
    """z_y - max_{i != y} z_i: positive while the point is classified correctly."""
    return logits.gather(1, y[:, None]).squeeze(1) - _other_max(logits, y)


__all__ = ["LOSSES", "attack_loss", "effective_loss", "logit_margin"]
