"""What a checkpoint's safetensors files say they hold, read from their headers alone.

A .safetensors file starts with 8 bytes (little-endian: the header's length), then a JSON header
naming each tensor with its dtype, shape and byte offsets; the numbers follow. Reading the header
lists every stored tensor without loading one:

- `read_header(path)`: tensor name -> {"dtype", "shape", "data_offsets"};
- `cross_check(folder, shapes, tied, prefix)`: a model's counted parameters against the tensors
  stored in a folder's *.safetensors files.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n00bqa.errors import ProbeError


def read_header(path: Path) -> dict[str, dict[str, Any]]:
    """The tensor index of a .safetensors file (its `__metadata__` entry left out)."""
    with open(path, "rb") as f:
        size_bytes = f.read(8)
        if len(size_bytes) != 8:
            raise ProbeError(f"{str(path)!r} is not a safetensors file (shorter than 8 bytes)")
        (size,) = struct.unpack("<Q", size_bytes)
        try:
            header = json.loads(f.read(size))
        except ValueError as exc:
            raise ProbeError(f"{str(path)!r} has an unreadable safetensors header: {exc}") from exc
    header.pop("__metadata__", None)
    return header


@dataclass
class CheckpointCheck:
    """A folder's stored tensors against a model's parameters."""

    files: list[str]
    stored_tensors: int
    stored_total: int  # every number stored, buffers included
    stored_params: int  # the stored numbers that are the model's parameters, a tied copy once
    only_stored: dict[str, list[int]]  # stored but not a parameter (e.g. a buffer): name -> shape
    only_model: list[str]  # parameters the checkpoint lacks
    mismatched: list[str]  # stored with another shape than the model's

    def matches(self, total: int) -> bool:
        """The stored parameters are the counted `total`, none missing, none reshaped."""
        return self.stored_params == total and not self.only_model and not self.mismatched


def cross_check(folder: Path, shapes: dict[str, list[int]], tied: list[list[str]],
                prefix: str) -> CheckpointCheck | None:
    """Compare a model's parameters (`shapes`: every name -> shape; `tied`: the names of each tied
    tensor) with what the folder's *.safetensors files store; None if it has none.

    `prefix` is the base model's prefix ("bert"): checkpoints are saved with or without it.
    """
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None

    def strip(name: str) -> str:
        return name[len(prefix) + 1:] if prefix and name.startswith(prefix + ".") else name

    stored = {strip(name): list(info["shape"]) for path in files for name, info in read_header(path).items()}
    model = {strip(n): s for n, s in shapes.items()}
    tied_extra = {strip(n) for names in tied for n in names[1:]}
    # The same tensors as the model, each once: a tied copy saved twice counts once.
    stored_params = sum(math.prod(s) for n, s in stored.items() if n in model and n not in tied_extra)
    return CheckpointCheck(
        files=[p.name for p in files], stored_tensors=len(stored),
        stored_total=sum(math.prod(s) for s in stored.values()), stored_params=stored_params,
        only_stored={n: stored[n] for n in sorted(set(stored) - set(model))},
        only_model=sorted(set(model) - set(stored)),
        mismatched=sorted(n for n in set(stored) & set(model) if stored[n] != model[n]))
