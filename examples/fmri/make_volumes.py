"""Write sample rs-fMRI spatial maps: NIfTI volumes for the example, a .npy batch for the harness.

    python examples/fmri/make_volumes.py --out DIR [--volumes 3] [--batch 100] [--seed 1]

The maps come from the distribution the example's model was trained on (synthetic.py), from
another seed, so the model classifies them confidently without having seen them. Writes
DIR/scan_K.nii.gz (K = 0 … volumes-1; one 45 x 54 x 45 float32 volume each, 3 mm voxels in
an MNI-like affine), DIR/batch.npy ((batch, 45, 54, 45) float32) and DIR/truth.json (the class
of every volume and of every batch row, as an index and a name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

import synthetic

# 3 mm isotropic voxels, origin at the MNI centre of a 45 x 54 x 45 grid (the usual rs-fMRI template).
AFFINE = np.array([[-3.0, 0, 0, 66], [0, 3.0, 0, -102], [0, 0, 3.0, -60], [0, 0, 0, 1]])


def write_volume(volume: np.ndarray, path: Path) -> None:
    image = nib.Nifti1Image(volume.astype(np.float32), AFFINE)
    image.header.set_xyzt_units("mm")
    nib.save(image, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--volumes", type=int, default=3, help="how many .nii.gz volumes to write")
    parser.add_argument("--batch", type=int, default=100, help="rows of batch.npy (0: no batch)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the classes and maps (the model trains on 0)")
    parser.add_argument("--labels-csv", type=Path, default=synthetic.LABELS_CSV)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = synthetic.class_names(args.labels_csv)
    rng = np.random.default_rng(args.seed)
    maps = synthetic.templates()
    truth: dict[str, list[dict[str, object]]] = {"volumes": [], "batch": []}
    volume_classes = rng.integers(0, synthetic.CLASSES, args.volumes)
    for k, volume in enumerate(synthetic.samples(volume_classes, args.seed, maps)):
        path = args.out / f"scan_{k}.nii.gz"
        write_volume(volume, path)
        truth["volumes"].append({"file": path.name, "class": int(volume_classes[k]), "name": names[volume_classes[k]]})
    if args.batch:
        batch_classes = rng.integers(0, synthetic.CLASSES, args.batch)
        np.save(args.out / "batch.npy", synthetic.samples(batch_classes, args.seed + 1, maps))
        truth["batch"] = [{"class": int(c), "name": names[c]} for c in batch_classes]
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {args.volumes} volumes and a batch of {args.batch} to {args.out}")


if __name__ == "__main__":
    main()
