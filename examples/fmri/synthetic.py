"""Synthetic spatial maps: the data the example's models are trained on and tested with.

Why synthetic: the real rs-fMRI maps (one subject's group-ICA component, 45 x 54 x 45 voxels)
are patient data that this repository cannot hold. What the classifier sees is kept: one 3-D
map per input, inside a brain-shaped mask, whose class is one of the 58 brain networks named in
../shared/data/fmri/ClusterNames.csv.

The distribution, for any grid shape (the CNN examples use it in 2-D and at smaller 3-D sizes):
each class has a fixed template, two to four smooth Gaussian blobs inside an ellipsoidal mask
(the network's regions; the first blob positive, the others of either sign), drawn from a seed
so that every script sees the same templates. A sample of class c is `gain · template[c]` plus
smooth noise (four random blobs) plus white noise inside the mask, then divided by its largest
magnitude: every value lies in [-1, 1], the range the imported program declares for its input,
as a preprocessing step a real pipeline would also apply.

Guarantees: `templates` and `samples` are deterministic functions of their arguments; samples
are float32 arrays of shape (n, *shape) with values in [-1, 1] and zero outside the mask.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

SHAPE = (45, 54, 45)
CLASSES = 58
TEMPLATE_SEED = 2023
LABELS_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "fmri" / "ClusterNames.csv"


def class_names(csv_path: Path = LABELS_CSV) -> list[str]:
    """The 58 class names: the distinct values of the `Cluster Name 100` column in order of first
    appearance (the numbering of ../shared/data/fmri/README.md: 0 = DMN-RSC, 11 = NOISE, ...)."""
    with open(csv_path, newline="", encoding="utf-8") as table:
        names = [row["Cluster Name 100"].strip() for row in csv.DictReader(table)]
    distinct = list(dict.fromkeys(names))
    if len(distinct) != CLASSES:
        raise ValueError(f"{csv_path}: expected {CLASSES} distinct cluster names, found {len(distinct)}")
    return distinct


def mask(shape: tuple[int, ...]) -> np.ndarray:
    """An ellipsoid filling most of the grid, standing in for the MNI brain mask."""
    distance = np.zeros(shape, dtype=np.float32)
    for axis, n in enumerate(shape):
        radius, centre = 0.45 * n, (n - 1) / 2
        profile = ((np.arange(n, dtype=np.float32) - centre) / radius) ** 2
        distance += profile.reshape([n if k == axis else 1 for k in range(len(shape))])
    return distance <= 1.0


def blob(shape: tuple[int, ...], centre: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian bump of height 1 (an outer product: cheap at these sizes)."""
    out = np.ones((), dtype=np.float32)
    for n, c in zip(shape, centre):
        out = np.multiply.outer(out, np.exp(-((np.arange(n, dtype=np.float32) - c) ** 2) / (2 * sigma * sigma)))
    return out


def _centre_inside(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """A point well inside the mask: uniform in the ellipsoid shrunk to 70%."""
    while True:
        offset = rng.uniform(-1, 1, len(shape))
        if offset @ offset <= 1:
            return np.array([(n - 1) / 2 + 0.7 * 0.45 * n * o for n, o in zip(shape, offset)])


def _sigma(shape: tuple[int, ...], low: float, high: float, rng: np.random.Generator) -> float:
    """A blob width in voxels, scaled to the grid (the bounds are for the 45-voxel fMRI grid)."""
    return rng.uniform(low, high) * min(shape) / 45


def templates(shape: tuple[int, ...] = SHAPE, classes: int = CLASSES, seed: int = TEMPLATE_SEED) -> np.ndarray:
    """One map per class, (classes, *shape) float32, each scaled to largest magnitude 1."""
    rng = np.random.default_rng(seed)
    inside = mask(shape)
    maps = np.zeros((classes, *shape), dtype=np.float32)
    for c in range(classes):
        for k in range(rng.integers(2, 5)):
            weight = 1.0 if k == 0 else rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)
            maps[c] += weight * blob(shape, _centre_inside(shape, rng), _sigma(shape, 2.5, 5.0, rng))
        maps[c] *= inside
        maps[c] /= np.abs(maps[c]).max()
    return maps


def samples(labels: np.ndarray, seed: int, maps: np.ndarray, noise: float = 0.15) -> np.ndarray:
    """One synthetic map per entry of `labels`, (n, *shape) float32, values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    shape = maps.shape[1:]
    inside = mask(shape)
    out = np.empty((len(labels), *shape), dtype=np.float32)
    for n, c in enumerate(labels):
        volume = rng.uniform(0.7, 1.3) * maps[c]
        for _ in range(4):
            volume += rng.normal(0, 0.25) * blob(shape, _centre_inside(shape, rng), _sigma(shape, 3.0, 6.0, rng))
        volume += rng.normal(0, noise, shape).astype(np.float32)
        volume *= inside
        out[n] = volume / np.abs(volume).max()
    return out
