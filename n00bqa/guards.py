"""What n00bqa reads from a study root is checked before it is used: a study root is something
learners clone and share, so its files may be hostile or broken.

- Only regular files are read, each up to a stated size: a link to /dev/zero, a FIFO or a folder
  named `x.md` is named and skipped, never read (it would fill the memory, or wait forever).
- YAML is parsed with its aliases' expansion bounded: a "billion laughs" is one line, in milliseconds.
- Every path taken from a root's YAML stays inside the folder it belongs to (`inside`), and every
  probe name is checked to be a name before a path is built from it (`is_probe_name`).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

MAX_QUESTION_BYTES = 1_000_000  # a question file is a few KB; ours are under 5 KB
MAX_YAML_BYTES = 4_000_000  # corpus/reading-list.yaml and corpus/added.yaml
MAX_ITEM_BYTES = 200_000_000  # a reading-list item: a note, a library source, an added copy
MAX_LOG_BYTES = 50_000_000  # reviews/<id>.jsonl: about 100,000 reviews of one question
MAX_YAML_VALUES = 100_000  # the values a YAML document may hold once its aliases are expanded

PROBE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # no dot, no slash: never a path


class Refused(Exception):
    """A file that is not read (not a regular file, or too large); the message says why."""


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e6 else f"{count / 1e3:.0f} KB"


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of `path` if it is a regular file (after links) of at most `limit` bytes, else
    Refused; OSError when it cannot be read."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise Refused(f"is {kind}, not a regular file; n00bqa reads only regular files")
    # O_NONBLOCK: if it became a FIFO since the stat, the open returns instead of waiting
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused("is not a regular file; n00bqa reads only regular files")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise Refused(f"is over {_size(limit)}, more than n00bqa reads in such a file; split or shorten it")
    return data


def is_regular(path: Path) -> bool:
    """Whether `path` is a regular file (after links), without opening it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def inside(path: Path, folder: Path) -> bool:
    """Whether `path`, links and `..` resolved, lies within `folder` (resolved too)."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop
        return False


def is_probe_name(name: Any) -> bool:
    """A probe name as the registry makes them (`param-count`, `my_linear`): never a path."""
    return isinstance(name, str) and len(name) <= 100 and PROBE_NAME.fullmatch(name) is not None


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)` (libyaml's loader when installed), refusing with a yaml.YAMLError a
    document whose aliases expand to more than MAX_YAML_VALUES values or refer to themselves."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if "*" not in text:  # no alias, nothing to expand
        return yaml.load(text, Loader=loader_class)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, yaml)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: Any, yaml: Any) -> None:
    """Count the values `root` holds with every alias expanded, in time linear in its distinct nodes."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def too_big(why: str) -> Exception:
        error = yaml.YAMLError(why)
        error.problem = why  # read as a composer error's `problem` by the callers' messages
        return error

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise too_big("an alias refers to the value that holds it")
        open_nodes.add(key)
        if isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        open_nodes.discard(key)
        if total > MAX_YAML_VALUES:
            raise too_big(f"its aliases expand to more than {MAX_YAML_VALUES:,} values (an alias bomb?)")
        sizes[key] = total
        return total

    try:
        size(root)
    except RecursionError:
        raise too_big("it nests too deeply") from None
