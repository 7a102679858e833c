"""Summary statistics of an `EyeDataset`: counts per class and person, pixel statistics."""

from __future__ import annotations

from typing import Any

import numpy as np

from robusteye.data.dataset import EyeDataset
from robusteye.text import printable


def dataset_info(ds: EyeDataset) -> dict[str, Any]:
    """A JSON-able summary: sizes, class and person counts, pixel statistics, meta."""
    x = ds.images
    per_person = np.array(list(ds.person_counts().values()))
    class_means = {
        c: float(x[ds.labels == i].mean()) if int((ds.labels == i).sum()) else None
        for i, c in enumerate(ds.classes)
    }
    return {
        "n_images": len(ds),
        "classes": list(ds.classes),
        "class_counts": ds.class_counts(),
        "n_persons": len(ds.person_ids),
        "images_per_person": {
            "min": int(per_person.min()),
            "median": float(np.median(per_person)),
            "max": int(per_person.max()),
        },
        "person_counts": ds.person_counts(),
        "pixels": {
            "mean": float(x.mean()),
            "std": float(x.std()),
            "min": float(x.min()),
            "max": float(x.max()),
            "mean_by_class": class_means,
        },
        "meta": ds.meta,
    }


def format_info(info: dict[str, Any]) -> str:
    """Human-readable text of `dataset_info` (names escaped: `robusteye.text.printable`)."""
    px = info["pixels"]
    ipp = info["images_per_person"]
    lines = [
        f"images   {info['n_images']}",
        f"persons  {info['n_persons']} (images per person: min {ipp['min']}, "
        f"median {ipp['median']:g}, max {ipp['max']})",
        f"pixels   mean {px['mean']:.3f}  std {px['std']:.3f}  "
        f"range [{px['min']:.3f}, {px['max']:.3f}]",
        "",
        f"{'class':<16}{'images':>8}{'share':>8}{'mean px':>9}",
    ]
    total = max(info["n_images"], 1)
    for c in info["classes"]:
        n = info["class_counts"][c]
        mean = px["mean_by_class"][c]
        shown = "" if mean is None else f"{mean:.3f}"
        lines.append(f"{printable(c):<16}{n:>8}{n / total:>8.1%}{shown:>9}")
    origin = info["meta"].get("origin")
    if origin:
        lines += ["", f"origin   {printable(origin)}"]
    return "\n".join(lines)
