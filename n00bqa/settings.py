"""The environment settings n00bqa reads, each range-checked: a bad value is one line naming the
variable, the value and the range, never a crash or a machine brought down (an ONNX session with
100,000 threads)."""

from __future__ import annotations

import os

from n00bqa.errors import SettingError


def _number(name: str, default: float, low: float, high: float, integer: bool) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    kind = "a whole number" if integer else "a number"
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not {kind}; set it to {kind} from {low:g} to {high:g}, "
                           f"or unset it (default {default:g})") from None
    if not low <= value <= high:  # NaN fails this too
        raise SettingError(f"{name}={raw!r} is out of range; set it to {kind} from {low:g} to {high:g}, "
                           f"or unset it (default {default:g})")
    return value


def onnx_threads() -> int:
    """N00BQA_ONNX_THREADS: the ONNX encoder's threads, 1-64 (default 2)."""
    return int(_number("N00BQA_ONNX_THREADS", 2, 1, 64, integer=True))


def lock_timeout() -> float:
    """N00BQA_LOCK_TIMEOUT: seconds a writer waits for another one's lock on the root, 0-3600 (default 30)."""
    return _number("N00BQA_LOCK_TIMEOUT", 30.0, 0.0, 3600.0, integer=False)


def check_all() -> None:
    """Check every setting at once (the CLI does, before any command runs)."""
    onnx_threads()
    lock_timeout()
