"""`n00bqa probe new NAME`: a learner's own probe, written from the house template.

The new file is `n00bqa/probes/template.py` itself with its name and question filled in, so it is
a small, working, real probe from the first run; its docstring says where findings, tables and
metrics go.
"""

from __future__ import annotations

import re
from pathlib import Path

from n00bqa.atomic import atomic_write_text
from n00bqa.errors import ProbeError
from n00bqa.study import Study

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
TEMPLATE = Path(__file__).with_name("template.py")
TEMPLATE_TEST = Path(__file__).with_name("template_test.py")  # written beside it as test_<name>.py


def check_probe_name(name: str) -> str:
    """A new probe's name: lowercase words joined by '-', so its file `a_b.py` is a Python module."""
    if not NAME_PATTERN.match(name or ""):
        raise ProbeError(f"probe name {name!r} must be lowercase words joined by '-', starting with a "
                         "letter, e.g. my-probe")
    if name in ("new", "template"):
        raise ProbeError(f"probe name {name!r} is reserved; pick another, e.g. my-{name}")
    if name == "test" or name.startswith("test-"):  # probes/test_*.py are the probes' tests, never probes
        rest = name[5:] or "my"
        raise ProbeError(f"probe name {name!r} would be written as probes/{name.replace('-', '_')}.py, the name of "
                         f"a probe's tests; pick a name not starting with 'test-', e.g. {rest}-test")
    return name


def new_probe(study: Study, name: str, question_id: str | None = None):
    """Write `<root>/probes/<name>.py` from the template and link it to a question.

    Also writes `<root>/probes/test_<name>.py`, the template's tests with the new name, for
    `python -m pytest probes/`.

    Returns:
        (path, question) where question is the linked Question or None.
    Raises:
        ProbeError for a bad or taken name; QuestionError for an unknown question id.
    """
    from n00bqa.probes import probe_names
    from n00bqa.questions import get_question, link_probe

    study.require_writable()
    check_probe_name(name)
    path = study.probes_dir / f"{name.replace('-', '_')}.py"
    if name in probe_names(study) or path.exists():
        raise ProbeError(f"a probe named {name!r} already exists ({path if path.exists() else 'built in'}); "
                         "pick another name")
    question = get_question(study, question_id) if question_id else None
    source = TEMPLATE.read_text(encoding="utf-8")
    source = source.replace('name="template",', f'name="{name}",', 1)
    source = source.replace('question="",', f'question="{question_id or ""}",', 1)
    atomic_write_text(path, source)
    test = TEMPLATE_TEST.read_text(encoding="utf-8").replace('NAME = "template"', f'NAME = "{name}"', 1)
    test = test.replace("the probe `template`", f"the probe `{name}`", 1)
    atomic_write_text(study.probes_dir / f"test_{path.name}", test)
    if question is not None:
        question = link_probe(study, question.id, name)  # the question file is edited by questions.py
    return path, question
