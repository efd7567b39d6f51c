"""The synthetic maps, the class names and the sample NIfTI volumes of examples/fmri."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest

import synthetic
from ezlang.inputs import InputRequest, load_inputs
from ezlang.types import Base, Label, Role, Type

SCRIPTS = Path(__file__).resolve().parents[2] / "examples" / "fmri"


def test_class_names_are_the_distinct_names_in_order_of_first_appearance(tmp_path: Path) -> None:
    table = tmp_path / "names.csv"
    rows = [f"{k + 1},{k},,{'NOISE' if k % 2 else f'NET-{k}'},somewhere,," for k in range(114)]
    table.write_text("Cluster Number,icanumber,,Cluster Name 100,Anatomy,OR....,NOTES\n" + "\n".join(rows) + "\n")
    assert synthetic.class_names(table) == ["NET-0", "NOISE"] + [f"NET-{k}" for k in range(2, 114, 2)]


def test_a_table_without_58_classes_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "names.csv"
    table.write_text("Cluster Number,icanumber,,Cluster Name 100\n1,0,,A\n2,1,,B\n")
    with pytest.raises(ValueError, match="expected 58 distinct cluster names, found 2"):
        synthetic.class_names(table)


@pytest.mark.skipif(not synthetic.LABELS_CSV.exists(), reason=f"{synthetic.LABELS_CSV} is not in this checkout")
def test_the_shared_table_gives_the_documented_numbering() -> None:
    names = synthetic.class_names()
    assert (len(names), names[0], names[1], names[11], names[57]) == (58, "DMN-RSC", "DMN-PCC-MID", "NOISE", "HYPOTHALAMUS")


def test_samples_are_deterministic_masked_and_in_range() -> None:
    shape = (9, 11, 9)
    maps = synthetic.templates(shape, classes=3, seed=5)
    first = synthetic.samples(np.array([0, 2, 1]), seed=7, maps=maps)
    again = synthetic.samples(np.array([0, 2, 1]), seed=7, maps=maps)
    assert first.shape == (3, *shape) and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert np.abs(first).max(axis=(1, 2, 3)).tolist() == [1.0, 1.0, 1.0]
    assert not first[:, ~synthetic.mask(shape)].any()


def test_a_sample_is_closest_to_its_own_template() -> None:
    maps = synthetic.templates((20, 24, 20), classes=6, seed=3)
    labels = np.arange(6).repeat(3)
    x = synthetic.samples(labels, seed=4, maps=maps).reshape(len(labels), -1)
    nearest = (x @ maps.reshape(6, -1).T).argmax(axis=1)
    assert nearest.tolist() == labels.tolist()


def test_volumes_read_back_through_the_program_input_loader(tmp_path: Path) -> None:
    table = tmp_path / "names.csv"  # a table of its own: the shared one lives outside the repository
    table.write_text("Cluster Number,icanumber,,Cluster Name 100\n"
                     + "".join(f"{k + 1},{k},,NET{k}\n" for k in range(58)))
    done = subprocess.run([sys.executable, str(SCRIPTS / "make_volumes.py"), "--out", str(tmp_path), "--volumes", "1",
                           "--batch", "2", "--labels-csv", str(table)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    batch = np.load(tmp_path / "batch.npy")
    assert batch.shape == (2, 45, 54, 45) and batch.dtype == np.float32
    request = InputRequest("scan", Role.CLIENT, Type(Base.FLOAT, Label.AL, rank=1), dims=(45 * 54 * 45,))
    volume = np.asarray(load_inputs(tmp_path / "scan_0.nii.gz").reader().read(request))
    written = nibabel.load(tmp_path / "scan_0.nii.gz").get_fdata()
    assert written.shape == (45, 54, 45) and np.abs(written).max() == pytest.approx(1.0)
    np.testing.assert_allclose(volume, written.reshape(-1), rtol=1e-6)
