"""Nothing touches the network at run time (issue 25 item 7): every command but `corpus add URL` runs
under `strace -f` (each connect and sendto of every thread and child, native code included, so
onnxruntime's telemetry too) and a Python audit hook on socket.connect/getaddrinfo, and opens no
network socket; nothing is written under `$XDG_CACHE_HOME/Microsoft`. `corpus add URL` is the
positive control: the same watch sees its one connection."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.shared_study import link_state, shared_root

PROJECT = Path(__file__).resolve().parent.parent
STRACE = shutil.which("strace")

# Runs one n00bqa command with an audit hook that records every Python-level network call.
WATCHED = """
import sys
log = open(sys.argv[1], "a")
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.gethostbyname"):
        log.write(f"{event} {args!r}\\n"); log.flush()
sys.addaudithook(hook)
sys.argv = ["n00bqa", *sys.argv[2:]]
from n00bqa.__main__ import main
main()
"""

# A network socket in strace's words: an AF_INET/AF_INET6 connect, sendto or sendmsg — a DNS query
# included (the resolver's UDP packet to port 53). A connect to nscd's Unix socket is not one: the C
# library asks it for user names too (torch looks its user up), and without nscd a DNS lookup goes on
# to that UDP packet, which this catches.
NETWORK = re.compile(r"\b(connect|sendto|sendmsg)\(\d+, \{sa_family=AF_INET6?\b")


def watch(root: Path, cache: Path, tmp: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run `n00bqa ARGS` watched; return the run and every network call seen (strace lines, hook lines)."""
    hooks, trace = tmp / "hook.log", tmp / "strace.log"
    hooks.unlink(missing_ok=True)
    trace.unlink(missing_ok=True)
    command = [sys.executable, "-c", WATCHED, str(hooks), *args]
    if STRACE:
        command = [STRACE, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace), *command]
    env = {**os.environ, "N00BQA_ROOT": str(root), "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(PROJECT),
           "PAGER": "cat"}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # n00bqa itself must turn it off
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    seen = hooks.read_text().splitlines() if hooks.exists() else []
    if trace.exists():
        seen += [line for line in trace.read_text().splitlines() if NETWORK.search(line)]
    return done, seen


COMMANDS = [
    ["--help"], ["questions"], ["questions", "--json"], ["show", "model-size"], ["questions", "check"], ["where"],
    ["probes"], ["corpus", "list"], ["index", "status"], ["index", "build"],
    ["search", "why is the embedding gradient sparse", "-k", "2"],
    ["ask", "How large is a transformer model?", "-k", "2", "--no-pager"],
    ["questions", "add", "Does anything phone home?", "--id", "phone-home"],
    ["questions", "note", "model-size", "a note"], ["quiz", "phone-home", "--answer", "no", "--rating", "good"],
    ["review"], ["progress", "--json"], ["corpus", "add", "NEWFILE"], ["probe", "param-count", "--json"],
]


@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A ready study root, and a user cache of its own holding only the shared ONNX export (so any
    file onnxruntime's telemetry wrote would show)."""
    root = tmp_path_factory.mktemp("network") / "study"
    root.mkdir()
    from conftest import FIXTURE_STUDY

    shutil.copytree(FIXTURE_STUDY / "questions", root / "questions")
    shutil.copytree(FIXTURE_STUDY / "corpus", root / "corpus")
    link_state(root, shared_root(tmp_path_factory), copy_index=True)
    cache = root.parent / "cache"
    cache.mkdir()
    (cache / "n00bqa").symlink_to(Path(os.environ["XDG_CACHE_HOME"]) / "n00bqa")
    return root, cache


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_no_command_opens_a_network_socket(watched, tmp_path, args):
    root, cache = watched
    new = tmp_path / "mine.md"
    new.write_text("# Mine\n\nMy own words about sockets.\n")
    args = [str(new) if a == "NEWFILE" else a for a in args]
    done, seen = watch(root, cache, tmp_path, *args)
    # `questions check` finds the library readings this notes-only reading list lacks: exit 1, one line
    assert done.returncode == (1 if args == ["questions", "check"] else 0), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert seen == [], seen
    assert not (cache / "Microsoft").exists()  # onnxruntime's telemetry wrote nothing


def test_the_watch_sees_corpus_add_url_connect(watched, tmp_path):
    """The positive control: the one command that may use the network is seen doing so."""
    root, cache = watched
    done, seen = watch(root, cache, tmp_path, "corpus", "add", "http://127.0.0.1:9/notes.md", timeout=60)
    assert done.returncode == 1 and "cannot fetch" in done.stderr
    assert any("127.0.0.1" in line or "socket.connect" in line for line in seen), seen
    if STRACE:
        assert any(line.startswith(tuple("0123456789")) and "connect(" in line for line in seen), seen
