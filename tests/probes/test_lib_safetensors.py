"""lib/safetensors against the safetensors library itself: the header it writes, read back by hand."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from n00bqa.errors import ProbeError
from n00bqa.probes.lib.safetensors import cross_check, read_header


def test_header_lists_what_safetensors_saved(tmp_path):
    tensors = {"a.weight": torch.zeros(3, 4), "b.bias": torch.zeros(7, dtype=torch.bfloat16)}
    save_file(tensors, tmp_path / "m.safetensors", metadata={"format": "pt"})
    header = read_header(tmp_path / "m.safetensors")
    assert set(header) == {"a.weight", "b.bias"}  # __metadata__ left out
    assert header["a.weight"]["shape"] == [3, 4] and header["b.bias"]["dtype"] == "BF16"


def test_cross_check_counts_a_tied_copy_once_and_names_the_extras(tmp_path):
    save_file({"bert.wte.weight": torch.zeros(10, 4), "bert.head.weight": torch.zeros(10, 4),
               "bert.pos_ids": torch.zeros(1, 6), "bert.ln.weight": torch.zeros(5)}, tmp_path / "m.safetensors")
    shapes = {"wte.weight": [10, 4], "head.weight": [10, 4], "ln.weight": [4], "missing.weight": [2]}
    check = cross_check(tmp_path, shapes, [["wte.weight", "head.weight"]], "bert")
    assert check.stored_tensors == 4 and check.stored_total == 40 + 40 + 6 + 5
    assert check.stored_params == 40 + 5  # the tied copy once; pos_ids is not a parameter
    assert check.only_stored == {"pos_ids": [1, 6]}
    assert check.only_model == ["missing.weight"] and check.mismatched == ["ln.weight"]
    assert not check.matches(45)
    assert cross_check(tmp_path / "nothing", shapes, [], "") is None


def test_a_file_that_is_not_safetensors_is_one_line(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"abc")
    with pytest.raises(ProbeError, match="shorter than 8 bytes"):
        read_header(tmp_path / "bad.safetensors")
