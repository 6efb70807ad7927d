"""The real models the probes measure: the bundled all-MiniLM-L6-v2, or a local folder.

Nothing here downloads. `--model PATH` takes any local Hugging Face model folder; without
it, probes use the bundled MiniLM (a 22.7M-parameter BERT: 6 layers, hidden 384, 12 heads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from n00bqa.errors import ProbeError
from n00bqa.study import bundled_model_path

BUNDLED_NAME = "all-MiniLM-L6-v2"


def resolve_model_dir(path: str | Path | None) -> Path:
    """Return a local model folder, checking it holds a config.json.

    Args:
        path: a folder given by the user, or None for the bundled MiniLM.
    """
    folder = bundled_model_path() if path is None else Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ProbeError(f"model folder {str(folder)!r} does not exist; pass --model PATH to a local model folder")
    if not (folder / "config.json").is_file():
        raise ProbeError(
            f"model folder {str(folder)!r} has no config.json; pass a Hugging Face model folder "
            "(config.json plus weights) to --model"
        )
    return folder


def model_label(path: str | Path | None) -> str:
    """The name a report gives the model: the bundled model's name, or the folder's full path."""
    return BUNDLED_NAME if path is None else str(Path(path).expanduser().resolve())


@lru_cache(maxsize=4)
def load_tokenizer(path: str | None = None):
    """AutoTokenizer for a local folder (or the bundled MiniLM). Cached per process."""
    from transformers import AutoTokenizer

    folder = resolve_model_dir(path)
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load a tokenizer from {str(folder)!r}: {_first_line(exc)}") from exc


@lru_cache(maxsize=4)
def load_model(path: str | None = None):
    """AutoModel (the bare encoder) for a local folder or the bundled MiniLM, in eval mode. Cached."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its "Loading weights" bar would mix into a probe's own output
    folder = resolve_model_dir(path)
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load a model from {str(folder)!r}: {_first_line(exc)}") from exc
    return model.eval()


def load_task_model(model_class, path: str | None = None, **config):
    """A task model (e.g. BertForMultipleChoice) built on a local folder's checkpoint (or the bundled
    MiniLM), in eval mode, and the names of its weights the checkpoint lacks (the new, random head).

    transformers' "weights newly initialized" warning and its loading bar are silenced: the second
    return value says the same thing as data. Not cached: each call is a fresh head.

    Args:
        model_class: a transformers model class with `from_pretrained`.
        config: config overrides such as num_labels=3.
    Returns:
        (model, sorted names of the weights that were not in the checkpoint)
    """
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = resolve_model_dir(path)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = model_class.from_pretrained(str(folder), local_files_only=True, output_loading_info=True,
                                                  **config)
    except (OSError, ValueError) as exc:
        raise ProbeError(f"cannot load {model_class.__name__} from {str(folder)!r}: {_first_line(exc)}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval(), sorted(info["missing_keys"])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class GPTShape:
    """A GPT's shape as options (GPTConfig's n_layer, n_head, n_embd): the nanogpt probe trains this
    model and the flops probe counts it, so both probes' options start from here."""

    n_layer: int = field(default=2, metadata={"help": "Transformer blocks."})
    n_head: int = field(default=4, metadata={"help": "Attention heads per block (must divide --n-embd)."})
    n_embd: int = field(default=64, metadata={"help": "Width of the residual stream."})
