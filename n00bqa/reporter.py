"""Progress reporting, one shape for everything that takes a while (probes, index builds, the
ONNX export): `reporter.task(description, total)` starts a task and returns `advance(n)`.

The CLI passes rich progress bars (n00bqa.cli.common.RichReporter), the browser a widget, tests
and library callers nothing (NullReporter). A total of 0 means "no known length" (e.g. waiting for a
lock).
"""

from __future__ import annotations

from typing import Callable, Protocol


class Reporter(Protocol):
    def task(self, description: str, total: int) -> Callable[[int], None]:
        """Start a task of `total` steps (0: unknown); return `advance(n=1)`."""
        ...


class NullReporter:
    """Reports nowhere."""

    def task(self, description: str, total: int) -> Callable[[int], None]:
        return lambda n=1: None
