"""Shell completion as typer offers it (issue 26 item 11): `--show-completion` / `--install-completion`
and what the shell gets back for commands, options, question ids (of the study root in use) and
probe names. Real console-script processes, driven the way bash's completion function drives them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _exe() -> str:
    exe = Path(sys.executable).parent / "n00bqa"
    return str(exe) if exe.exists() else shutil.which("n00bqa")


def complete(words: str, root: Path, **env: str) -> list[str]:
    """What bash's completion function would offer for the command line `words` (the last word is the
    one being completed)."""
    parts = words.split(" ")
    full = {**os.environ, "N00BQA_ROOT": str(root), "_N00BQA_COMPLETE": "complete_bash", "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1), **env}
    out = subprocess.run([_exe()], env=full, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout.split()


@pytest.mark.parametrize("words, expected", [
    ("n00bqa qu", ["questions", "quiz"]),
    ("n00bqa show mod", ["model-size"]),
    ("n00bqa quiz enc", ["encoder-decoder"]),
    ("n00bqa browse word", ["word-embedding"]),
    ("n00bqa questions set-status emb", ["embedding-grad"]),
    ("n00bqa probe param", ["param-count"]),
    ("n00bqa probe kv", ["kv-cache"]),
    ("n00bqa ask x --n", ["--no-pager"]),
])
def test_completion_offers_commands_ids_probes_and_options(study_root, words, expected):
    assert complete(words, study_root) == expected


def test_ids_come_from_the_study_root_in_use(study_root):
    (study_root / "questions" / "model-size.md").rename(study_root / "questions" / "model-scale.md")
    text = (study_root / "questions" / "model-scale.md").read_text().replace("id: model-size", "id: model-scale")
    (study_root / "questions" / "model-scale.md").write_text(text)
    assert complete("n00bqa show model-", study_root) == ["model-scale"]


def test_show_and_install_completion(study_root, tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    shown = subprocess.run([_exe(), "--show-completion", "bash"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "_N00BQA_COMPLETE=complete_bash" in shown.stdout
    installed = subprocess.run([_exe(), "--install-completion", "bash"], env=env, capture_output=True, text=True,
                               timeout=60)
    assert installed.returncode == 0, installed.stderr
    script = tmp_path / ".bash_completions" / "n00bqa.sh"
    assert script.read_text() == shown.stdout.rstrip("\n") + "\n" or "_N00BQA_COMPLETE" in script.read_text()
    assert str(script) in (tmp_path / ".bashrc").read_text()


def test_without_a_shell_among_the_parents_the_login_shell_is_used(monkeypatch):
    # under nohup or a CI runner shellingham finds no shell process and typer printed "Shell  not supported."
    import shellingham
    import typer.completion

    import n00bqa.cli  # noqa: F401 - installs the lookup

    def fail():
        raise shellingham.ShellDetectionFailure()

    monkeypatch.setattr(shellingham, "detect_shell", fail)
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    assert typer.completion._get_shell_name() == "zsh"
    monkeypatch.delenv("SHELL")
    assert typer.completion._get_shell_name() is None
