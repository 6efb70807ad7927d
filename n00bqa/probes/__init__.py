"""The probe registry: one module per probe, each defining `PROBE = Probe(...)`.

Adding a probe is one new file in this folder and one line in BUILTIN_PROBES.
Probe modules import torch/transformers inside their functions, so listing probes is instant.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from n00bqa.errors import ProbeError
from n00bqa.probes.base import Probe

BUILTIN_PROBES = (
    "n00bqa.probes.param_count",
    "n00bqa.probes.embedding_grad",
    "n00bqa.probes.word_embedding",
    "n00bqa.probes.translation",
    "n00bqa.probes.task_heads",
    "n00bqa.probes.loss",
    "n00bqa.probes.hf_internals",
)


@lru_cache(maxsize=1)
def _registry() -> dict[str, Probe]:
    probes: dict[str, Probe] = {}
    for module_name in BUILTIN_PROBES:
        module = importlib.import_module(module_name)
        probe: Probe = module.PROBE
        if probe.name in probes:
            raise RuntimeError(f"probe name {probe.name!r} registered twice ({module_name})")
        probes[probe.name] = probe
    return probes


def list_probes() -> list[Probe]:
    return list(_registry().values())


def get_probe(name: str) -> Probe:
    probes = _registry()
    if name not in probes:
        raise ProbeError(f"unknown probe {name!r}; known probes: {', '.join(probes) or 'none'} (see: n00bqa probes)")
    return probes[name]
