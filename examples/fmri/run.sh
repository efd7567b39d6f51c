#!/usr/bin/env bash
# The rs-fMRI example end to end, in one command: train the classifier on synthetic spatial maps
# and export it to ONNX, write sample scans, import the model, and classify one scan securely
# (SERVER, CLIENT and DEALER as three processes on loopback). README.md in this folder explains
# each step.
#
#   bash examples/fmri/run.sh [DIR] [SCAN]     DIR defaults to ./fmri, SCAN to DIR/scan_0.nii.gz
#
# The model and scans are made only if DIR does not hold them yet.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-fmri}"
scan="${2:-$out/scan_0.nii.gz}"
labels="${EZLANG_FMRI_LABELS:-$here/../../../shared/data/fmri/ClusterNames.csv}"

[ -f "$out/fmri_mlp.onnx" ] || python3 "$here/make_model.py" --out "$out" --labels-csv "$labels"
[ -f "$out/scan_0.nii.gz" ] || python3 "$here/make_volumes.py" --out "$out" --labels-csv "$labels"
ezlang import "$out/fmri_mlp.onnx" -o "$out/model" --bitlen 64 --scale 12 --input-range -1 1 --labels "$labels"
ezlang run "$out/model/model.ezpc" --local --bitlen 64 --stats \
    --server-inputs "$out/model/model.weights" --client-inputs "$scan" --public-inputs "$out/model/public.json"
