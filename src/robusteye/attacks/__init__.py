"""Attacks: FGSM, random noise, PGD, Auto-PGD and Square as pure, batched, side-effect-free
functions, the one registry that names them (`ATTACKS`), their losses, and the SNR of a
perturbation. Images are float N x C x H x W in [0, 1] on the model's device."""

from robusteye.attacks._core import attack_mode, chunk_size, loss_gradient
from robusteye.attacks.apgd import apgd
from robusteye.attacks.fgsm import fgsm, fgsm_direction
from robusteye.attacks.losses import LOSSES, attack_loss, effective_loss, logit_margin
from robusteye.attacks.noise import uniform_noise
from robusteye.attacks.pgd import pgd
from robusteye.attacks.registry import (
    ATTACKS,
    Attack,
    Perturber,
    attack_names,
    get_attack,
    run_attack,
)
from robusteye.attacks.snr import (
    eps_for_snr,
    linf_ball_eps_for_snr,
    linf_ball_noise,
    mean_snr_db,
    snr_db,
    snr_db_per_image,
)
from robusteye.attacks.square import square

__all__ = [
    "ATTACKS",
    "LOSSES",
    "Attack",
    "Perturber",
    "apgd",
    "attack_loss",
    "attack_mode",
    "attack_names",
    "chunk_size",
    "effective_loss",
    "eps_for_snr",
    "fgsm",
    "fgsm_direction",
    "get_attack",
    "linf_ball_eps_for_snr",
    "linf_ball_noise",
    "logit_margin",
    "loss_gradient",
    "mean_snr_db",
    "pgd",
    "run_attack",
    "snr_db",
    "snr_db_per_image",
    "square",
    "uniform_noise",
]
