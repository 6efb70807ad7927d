"""`corpus add` guards, `corpus remove`, id completion and quiet PDF parsing (fault campaign, issue 12
items 4, 6, 7, 10 and 11)."""

from __future__ import annotations

import io
import json
import logging

import pytest
import yaml
from typer.testing import CliRunner

from n00bqa.cli import app

runner = CliRunner()


def _listing(root):
    path = root / "corpus" / "added.yaml"
    return yaml.safe_load(path.read_text())["items"] if path.exists() else []


def test_a_large_file_is_added_with_a_warning_of_the_indexing_time(study_root, tmp_path, monkeypatch):
    from n00bqa.retrieval import corpus

    monkeypatch.setattr(corpus, "WARN_BYTES", 10_000)  # the real limit is 2 MB; the rule is the same
    big = tmp_path / "big.txt"
    big.write_text("A sentence about attention heads and their projections.\n" * 2000)  # 116 kB
    result = runner.invoke(app, ["corpus", "add", str(big)])
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.stderr and "MB: indexing it takes about" in result.stderr
    assert [e["id"] for e in _listing(study_root)] == ["big"]


def test_title_comes_from_the_first_heading(tmp_path):
    from n00bqa.retrieval.corpus import first_heading

    assert first_heading(b"intro line\n\n## Why scale by sqrt(d_k) ##\n\n# Later\n", "markdown") == "Why scale by sqrt(d_k)"
    assert first_heading(b"<html><head><title>The\n Page</title></head><h1>H</h1></html>", "html") == "The Page"
    assert first_heading(b"<body><h1>Only <b>h1</b></h1></body>", "html") == "Only h1"
    assert first_heading(b"no heading here\n", "markdown") == ""
    assert first_heading(b"# looks like one\n", "text") == ""  # plain text has no headings


def test_same_content_twice_in_one_command_is_refused(study_root, tmp_path):
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    a.write_text("# Same\n\nwords\n")
    b.write_text("# Same\n\nwords\n")
    result = runner.invoke(app, ["corpus", "add", str(a), str(b)])
    assert result.exit_code == 1 and "same content as corpus item 'a'" in result.output
    assert _listing(study_root) == []


def test_a_copy_of_a_note_is_refused(study_root):
    note = next((study_root / "corpus" / "notes").glob("*.md"))
    result = runner.invoke(app, ["corpus", "add", str(note)])
    assert result.exit_code == 1 and "same content as corpus item" in result.output and "--force" in result.output


def test_remove_an_added_item(study_root, tmp_path):
    page = tmp_path / "mine.md"
    page.write_text("# Mine\n\nwords of my own\n")
    assert runner.invoke(app, ["corpus", "add", str(page)]).exit_code == 0
    copy = study_root / "corpus" / "added" / "mine.md"
    assert copy.is_file()
    result = runner.invoke(app, ["corpus", "remove", "mine"])
    assert result.exit_code == 0, result.output
    assert "Removed mine" in result.output and "\n  n00bqa index build\n" in result.output
    assert not copy.exists() and _listing(study_root) == []
    rows = json.loads(runner.invoke(app, ["corpus", "list", "--json"]).output)
    assert "mine" not in {r["id"] for r in rows}


@pytest.mark.parametrize("case", ["typo", "note"])
def test_remove_refuses_unknown_ids_and_reading_list_items(study_root, tmp_path, case):
    page = tmp_path / "mine.md"
    page.write_text("# Mine\n\nwords of my own\n")
    assert runner.invoke(app, ["corpus", "add", str(page)]).exit_code == 0
    if case == "typo":
        result, expected = runner.invoke(app, ["corpus", "remove", "mien"]), "no corpus item 'mien'; did you mean 'mine'?"
    else:
        note_id = yaml.safe_load((study_root / "corpus" / "reading-list.yaml").read_text())["items"][0]["id"]
        result, expected = runner.invoke(app, ["corpus", "remove", note_id]), "delete its entry there"
    assert result.exit_code == 1 and result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert expected in result.output
    assert [e["id"] for e in _listing(study_root)] == ["mine"]


def test_remove_never_deletes_outside_corpus_added(study_root, tmp_path):
    outside = tmp_path / "precious.md"
    outside.write_text("keep me\n")
    (study_root / "corpus" / "added.yaml").write_text(yaml.safe_dump({"items": [
        {"id": "evil", "kind": "added", "title": "x", "file": f"../../{outside.name}", "format": "markdown"}]}))
    assert (study_root / "corpus" / f"../../{outside.name}").resolve() == outside
    result = runner.invoke(app, ["corpus", "remove", "evil"])
    assert result.exit_code == 0, result.output
    assert outside.read_text() == "keep me\n" and _listing(study_root) == []


def test_a_malformed_added_list_is_one_line(study_root):
    (study_root / "corpus" / "added.yaml").write_text("items:\n  - just a string\n")
    result = runner.invoke(app, ["corpus", "list"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "item 1 has no 'id or file'" in result.output


def test_corpus_ids_complete(study, monkeypatch):
    from n00bqa.cli import corpus as corpus_cli
    from n00bqa.retrieval.corpus import load_items

    monkeypatch.setattr(corpus_cli, "get_study", lambda: study)
    ids = [item.id for item in load_items(study)]
    prefix = ids[0][:3]
    assert corpus_cli.complete_item_id(prefix) == [i for i in ids if i.startswith(prefix)]
    assert corpus_cli.complete_item_id("zzz-no-such") == []


def test_corpus_remove_completes_through_click(study_root):
    """The shell's own request (`_N00BQA_COMPLETE=...`) reaches complete_item_id."""
    from n00bqa.cli import corpus as corpus_cli

    command = corpus_cli.corpus_app.registered_commands[1]
    assert command.name == "remove"
    import inspect

    parameter = inspect.signature(command.callback).parameters["item_id"].default
    assert parameter.autocompletion is corpus_cli.complete_item_id


def test_pypdf_says_nothing_of_its_own(tmp_path, capsys, caplog):
    """A damaged-but-readable PDF: pypdf's 'incorrect startxref pointer' warnings stay quiet."""
    import re

    from pypdf import PdfWriter

    from n00bqa.retrieval.corpus import _pdf_text

    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    buffer = io.BytesIO()
    writer.write(buffer)
    damaged = re.sub(rb"startxref\s+\d+", b"startxref\n9", buffer.getvalue())
    logging.getLogger().addHandler(stream := logging.StreamHandler())  # what a root handler would print
    try:
        with caplog.at_level(logging.WARNING):
            text = _pdf_text(damaged, "damaged")
    finally:
        logging.getLogger().removeHandler(stream)
    assert text.startswith("# page 1")
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    # and the logger is left as it was
    assert logging.getLogger("pypdf").level == logging.NOTSET


@pytest.mark.parametrize("width", [80, 60])
def test_corpus_list_keeps_every_kind_and_size_whole(study, width):
    from n00bqa.render import coverage_table, rendered_text
    from n00bqa.retrieval import index_status

    rows = index_status(study)["items"]
    text = rendered_text(coverage_table(rows, show_source=False), width)
    assert all(len(line) <= width for line in text.splitlines())
    words = text.split()
    for row in rows:
        assert row["id"] in words
        size = f"{row['size'] / 1024:.1f}".removesuffix(".0") if row["size"] is not None else "-"
        assert size in words
    assert words.count("note") + words.count("library") + words.count("added") >= len(rows)


def test_index_status_prints_the_build_command_whole_on_its_own_line(study_root):
    (study_root / "corpus" / "notes").mkdir(exist_ok=True)
    result = runner.invoke(app, ["index", "status"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "  n00bqa index build" in result.stdout.splitlines()
