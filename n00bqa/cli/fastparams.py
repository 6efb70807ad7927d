"""Keep typer from importing pydantic for values that need no conversion.

typer 0.29 coerces every parameter value (defaults and None included, bool flags excepted) through a
pydantic TypeAdapter, built the first time the parameter is processed
(`typer.core._TyperParameter.process_value` -> `get_runtime_param` -> `typer._coercion.build_runtime_param`
-> `typer._adapters`, which imports pydantic: ~60 ms, more than `n00bqa questions` does itself).
For most values of ours that conversion is the identity: a `str` argument given a str, an `int`
option left at its int default, an `Optional[...]` option left at None; or plain: `-k 5` (a decimal
string for an int is what pydantic's int makes of it).

`install()` (called once by n00bqa.cli) gives each typer parameter, when typer first asks for it, a
runtime param that returns exactly what typer's own would for those values, and hands
every other value (" 5" or "5.0" for an int, a Path, a list, a choice, a custom parser) to
typer's default runtime param, built on first need. It only fills typer's lazy cache slot
(`param._runtime_param`) before typer's own builder looks at it, so if a future typer renames or
drops that builder or slot, nothing is installed and typer does what it always did.
tests/test_cli_fastparams.py holds the shortcut equal to typer's own coercion for every parameter
of every command, and checks that `n00bqa questions` imports no pydantic.
"""

from __future__ import annotations

import re
from typing import Any

_PLAIN = (str, int, float)  # annotations whose validated value is the value itself when its type matches
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")  # ASCII digits only: str.isdigit takes others


class _IdentityFirst:
    """A typer runtime param: identity for values that need no conversion, else typer's own."""

    def __init__(self, param: Any, build_default: Any) -> None:
        self._param = param
        self._build_default = build_default
        self._default: Any = None

    def _typer_default(self) -> Any:
        if self._default is None:
            self._default = self._build_default(self._param.type_descriptor)
        return self._default

    def shortcut(self, value: Any) -> tuple[bool, Any]:
        """(True, what typer's coercion gives) when that is known without it, else (False, None)."""
        param = self._param
        multi = getattr(param, "multiple", False) or param.nargs == -1
        if value is None:  # typer's RuntimeParam.coerce: None -> () for many values, else None
            return True, (() if multi else None)
        info = param.type_descriptor.parameter_info
        annotation = param.type_descriptor.annotation
        if multi or annotation not in _PLAIN or info.parser is not None or getattr(param.type_descriptor, "is_choice", False):
            return False, None
        if annotation is int and type(value) is str and _DECIMAL.fullmatch(value):
            value = int(value)  # "-k 5": a plain decimal is what pydantic's int makes of it
        if type(value) is not annotation:
            return False, None
        low, high = getattr(info, "min", None), getattr(info, "max", None)
        if (low is not None and value < low) or (high is not None and value > high):
            return False, None  # out of range: typer says so (or clamps)
        return True, value

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        known, result = self.shortcut(value)
        if known:
            return result
        return self._typer_default().coerce(value, param=param, ctx=ctx)

    def __getattr__(self, name: str) -> Any:  # anything else typer may ask of its runtime param
        return getattr(self._typer_default(), name)


def install() -> bool:
    """Make typer's parameters use the identity-first runtime param (once per process); True if
    installed. It wraps `_TyperParameter.get_runtime_param`, the lazy builder typer calls from
    `process_value`, only when it and the `_runtime_param` slot it fills look as they do in
    typer 0.29; otherwise nothing changes and typer coerces as it always did."""
    global _installed
    if _installed:
        return True
    try:
        from typer._coercion import build_runtime_param
        from typer.core import _TyperParameter
    except ImportError:
        return False
    original = getattr(_TyperParameter, "get_runtime_param", None)
    if not callable(original) or "_runtime_param" not in getattr(_TyperParameter, "__annotations__", {}):
        return False

    def get_runtime_param(self: Any) -> Any:
        if getattr(self, "_runtime_param", None) is None and hasattr(self, "type_descriptor"):
            self._runtime_param = _IdentityFirst(self, build_runtime_param)
        return original(self)

    get_runtime_param.__wrapped__ = original  # type: ignore[attr-defined]
    _TyperParameter.get_runtime_param = get_runtime_param
    _installed = True
    return True


_installed = False
