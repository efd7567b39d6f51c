"""`ezlang import`: an ONNX model to a readable ezlang program, a private weights file and a manifest.

Steps, one module each:
  read     the .onnx file → Graph (validated; unsupported operators rejected in one error)
  lower    Graph → Plan of layer-library calls on flat tensors (constants computed, ONNX
           attributes absorbed into weights); ops_linear and ops_array hold the operators
  fold     Plan → Plan with scalings, shifts and batch norms folded into weights, Softmax
           before ArgMax dropped, dead calls removed
  bundle   the format (scale, bit width; chosen by the range analysis from calibration data or
           declared ranges, or given), the labels, and the files, written all at once
  emit     Plan → the text of model.ezpc (the library functions copied from ezlang/lib/nn.ezpc)

docs/import.md is the user's description.
"""

from ezlang.onnx_import.bundle import Bundle, ImportOptions, import_model, write_bundle
from ezlang.onnx_import.errors import ImportFailure

__all__ = ["Bundle", "ImportFailure", "ImportOptions", "import_model", "write_bundle"]
