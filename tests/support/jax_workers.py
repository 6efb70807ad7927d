"""Workers the tests hand to lib/jax_devices.run_on_host_devices; each runs in the JAX child process
(tests put this folder on the child's PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def devices_seen(job: dict) -> dict:
    import jax

    return {"devices": len(jax.devices()), "platform": jax.devices()[0].platform,
            "xla_flags": os.environ.get("XLA_FLAGS", ""), "echo": job}


def fail(job: dict) -> dict:
    raise RuntimeError("worker failed on purpose\nsecond line the parent must not show")


def hang(job: dict) -> dict:
    Path(job["pidfile"]).write_text(str(os.getpid()))
    while True:
        time.sleep(1)


def matmul_hlo(job: dict) -> dict:
    """The compiled HLO of x @ w in each layout, written here without the probe's code."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    jax.config.update("jax_use_shardy_partitioner", job["propagation"] == "shardy")
    mesh = Mesh(np.array(jax.devices()), ("d",))
    x = np.ones((job["rows"], job["inner"]), np.float32)
    w = np.ones((job["inner"], job["cols"]), np.float32)
    specs = {"batch": (P("d", None), P()), "column": (P(), P(None, "d")), "row": (P(None, "d"), P("d", None)),
             "both": (P("d", None), P(None, "d")), "replicated": (P(), P())}
    texts = {}
    for name, (sx, sw) in specs.items():
        for out in ("free", "replicated"):
            jitted = jax.jit(lambda a, b: a @ b, in_shardings=(NamedSharding(mesh, sx), NamedSharding(mesh, sw)),
                             out_shardings=None if out == "free" else NamedSharding(mesh, P()))
            texts[f"{name}/{out}"] = jitted.lower(x, w).compile().as_text()
    return texts
