"""Data stage: the `EyeDataset` container, loaders, synthetic generator, person-grouped splits."""

from robusteye.data.dataset import IMAGE_SIZE, STUDY_CLASSES, EyeDataset
from robusteye.data.loaders import load_dataset
from robusteye.data.splits import holdout_split, person_kfold, persons_of

__all__ = [
    "IMAGE_SIZE",
    "STUDY_CLASSES",
    "EyeDataset",
    "holdout_split",
    "load_dataset",
    "person_kfold",
    "persons_of",
]
