"""manifest.json: what an imported model's program reads and outputs, for people and for tools.

Why: `ezlang import` writes it next to model.ezpc so that a user (or the accuracy harness) knows
each input's shape and party, the format (scale, bit width) the program was imported at, and
the class names; `ezlang interpret` and `ezlang run` read it to print a predicted class index
with its name (`label = [17 (Default Mode Network)]`).

    {"model": str, "program": "model.ezpc", "weights": "model.weights",
     "inputs": [{"name", "shape", "party"}], "outputs": [{"name", "shape", "kind"}],
     "scale": int, "bitlen": int, "batch": int | "dynamic", "labels": [str, ...]}

A shape is a list of sizes, where a dynamic batch size is the string "batch". An output's kind
is "logits" (reals) or "label" (a class index per batch row, from a secure ArgMax).

Assumes: a manifest written by `write_manifest` (or by hand in that form). Guarantees:
`read_manifest` returns None when there is no manifest next to a program, a Manifest otherwise,
or raises ManifestError naming the file and the field that is wrong.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

FILE_NAME = "manifest.json"
Dim = Union[int, str]


class ManifestError(Exception):
    """A manifest.json that cannot be read or does not have the documented fields."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    shape: tuple[Dim, ...]
    party: str = ""  # inputs: SERVER, CLIENT or ALL
    kind: str = ""  # outputs: "logits" or "label"


@dataclass(frozen=True)
class Manifest:
    model: str
    inputs: tuple[TensorEntry, ...]
    outputs: tuple[TensorEntry, ...]
    scale: int
    bitlen: int
    batch: Dim
    labels: tuple[str, ...] = ()
    program: str = "model.ezpc"
    weights: str = "model.weights"

    def to_json(self) -> str:
        document = {"model": self.model, "program": self.program, "weights": self.weights,
                    "inputs": [_entry_json(e, "party") for e in self.inputs],
                    "outputs": [_entry_json(e, "kind") for e in self.outputs],
                    "scale": self.scale, "bitlen": self.bitlen, "batch": self.batch,
                    "labels": list(self.labels)}
        return json.dumps(document, indent=2) + "\n"

    def label_outputs(self) -> tuple[str, ...]:
        return tuple(out.name for out in self.outputs if out.kind == "label")


def _entry_json(entry: TensorEntry, key: str) -> dict[str, Any]:
    return {"name": entry.name, "shape": list(entry.shape), key: getattr(entry, key)}


def manifest_path(program: str | Path) -> Path:
    """Where the manifest of a program lives: manifest.json in the program's directory."""
    return Path(program).parent / FILE_NAME


def read_manifest(program: str | Path) -> Optional[Manifest]:
    """The manifest next to `program`, or None if there is none."""
    path = manifest_path(program)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return _parse(document)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: cannot read it: {error}") from None
    except (KeyError, TypeError, ValueError) as error:
        raise ManifestError(f"{path}: not an ezlang manifest: {error}") from None


def _parse(document: Any) -> Manifest:
    labels = document.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ValueError('"labels" must be a list of strings')
    return Manifest(model=str(document["model"]),
                    inputs=tuple(TensorEntry(e["name"], tuple(e["shape"]), party=e["party"])
                                 for e in document["inputs"]),
                    outputs=tuple(TensorEntry(e["name"], tuple(e["shape"]), kind=e["kind"])
                                  for e in document["outputs"]),
                    scale=int(document["scale"]), bitlen=int(document["bitlen"]),
                    batch=document.get("batch", 1), labels=tuple(labels),
                    program=document.get("program", "model.ezpc"), weights=document.get("weights", "model.weights"))


_OUTPUT_LINE = re.compile(r"^(?P<lead>\s*)(?P<name>\S+) = (?P<value>\[[-0-9., ]*\]|-?[0-9.]+)$")


def name_labels(outputs_text: str, manifest: Manifest) -> str:
    """The `name = value` lines of a run's text output with each class index of a label output
    followed by its name: `label = [17 (Default Mode Network)]`. Lines already named, and
    indices outside the label list, are left as they are."""
    if not manifest.labels or not manifest.label_outputs():
        return outputs_text
    names = set(manifest.label_outputs())
    lines = []
    for line in outputs_text.split("\n"):
        match = _OUTPUT_LINE.match(line)
        if match and match["name"] in names:
            line = f"{match['lead']}{match['name']} = {_named(match['value'], manifest.labels)}"
        lines.append(line)
    return "\n".join(lines)


def _named(value: str, labels: tuple[str, ...]) -> str:
    bracketed = value.startswith("[")
    items = [item.strip() for item in value.strip("[]").split(",") if item.strip()]
    named = [_one(item, labels) for item in items]
    return f"[{', '.join(named)}]" if bracketed else named[0]


def _one(item: str, labels: tuple[str, ...]) -> str:
    index = round(float(item))
    if float(item) != index or not 0 <= index < len(labels):
        return item
    return f"{index} ({labels[index]})"
