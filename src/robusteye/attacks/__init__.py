"""Attacks: FGSM, random noise and PGD as pure, batched, side-effect-free functions, the one
registry that names them (`ATTACKS`), and the SNR of a perturbation. Images are float
N x C x H x W in [0, 1] on the model's device."""

from robusteye.attacks._core import attack_mode, chunk_size, loss_gradient
from robusteye.attacks.fgsm import fgsm, fgsm_direction
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
from robusteye.attacks.snr import eps_for_snr, mean_snr_db, snr_db, snr_db_per_image

__all__ = [
    "ATTACKS",
    "Attack",
    "Perturber",
    "attack_mode",
    "attack_names",
    "chunk_size",
    "eps_for_snr",
    "fgsm",
    "fgsm_direction",
    "get_attack",
    "loss_gradient",
    "mean_snr_db",
    "pgd",
    "run_attack",
    "snr_db",
    "snr_db_per_image",
    "uniform_noise",
]
