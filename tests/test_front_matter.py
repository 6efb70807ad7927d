"""Question front matter read without YAML gives exactly what YAML gives, or declines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from n00bqa.questions import Question, parse_question, simple_front_matter


def yaml_fields(lines: list[str]):
    return yaml.load("\n".join(lines), Loader=yaml.SafeLoader) or {}


def front_lines(text: str) -> list[str]:
    lines = text.splitlines()
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    return lines[1:end]


def test_every_fixture_question_is_read_without_yaml_and_equal(study_root: Path):
    files = sorted((study_root / "questions").glob("*.md"))
    assert files
    for path in files:
        lines = front_lines(path.read_text(encoding="utf-8"))
        fast = simple_front_matter(lines)
        assert fast is not None, path
        assert fast == yaml_fields(lines), path


def test_what_n00bqa_writes_is_read_without_yaml():
    question = Question(id="a-b", question='Why "quotes", commas: colons \\ and é — ×?\tTab', probes=["x-y"],
                        tags=["t", "u v"], reading=[], status="open", chapter=2, answer="A.", path=None)
    lines = front_lines(question.to_markdown())
    assert simple_front_matter(lines) == yaml_fields(lines)
    assert parse_question(Path("a-b.md"), question.to_markdown()).question == question.question.strip()


@pytest.mark.parametrize("line", [
    "k: open", "k:  open", "k: open  ", "k: a-", "k: 0", "k: -0", "k: 12", 'k: ""', 'k: "a\\"b"', 'k: "tab\\there"',
    'k: "a\\/b"', 'k: "é—×"', "k: []", "k: [ ]", "k: [flops]", "k: [a, b]", 'k: ["a, b", c]', 'k: ["a" ,"b"]',
    'k: [x, "y\\\\z"]', 'k: [""]',
])
def test_accepted_lines_equal_yaml(line):
    assert simple_front_matter([line]) is not None, line
    assert simple_front_matter([line]) == yaml_fields([line])


@pytest.mark.parametrize("line", [
    "k: yes", "k: on", "k: null", "k: ~", "k: 010", "k: 1_0", "k: 1.5", "k: 0x10", "k: [a, b,]", "k: [yes]",
    "k: [[a]]", "k: [a]]", 'k: "x" # c', "k: a # c", "k: 's'", 'k: "a\\u00e9"', 'k: "\\x41"', 'k: "\\e"',
    'k: "a" "b"', "yes: 1", "k:", "  k: a", "k: Open", "k: a b", "# comment", "- a", "k: \ta", "k: a\u00a0b",
])
def test_anything_else_goes_to_yaml(line):
    assert simple_front_matter([line]) is None, line


def test_duplicate_keys_go_to_yaml():
    assert simple_front_matter(["k: a", "k: b"]) is None
