"""The corpus: reading-list items resolve, `corpus add` copies and records, bad input loses nothing."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from n00bqa.cli import app

runner = CliRunner()


def test_every_reading_list_item_is_listed(study_root, study):
    from n00bqa.retrieval.corpus import load_items

    manifest = yaml.safe_load((study_root / "corpus" / "reading-list.yaml").read_text())["items"]
    result = runner.invoke(app, ["corpus", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["id"] for r in rows] == [e["id"] for e in manifest]
    assert all(r["state"] in ("new", "unreadable") for r in rows)  # nothing indexed in a fresh root
    items = {i.id: i for i in load_items(study)}
    for entry in manifest:
        item = items[entry["id"]]
        if entry["kind"] == "library":
            import importlib.metadata

            assert item.source == f"{entry['package']}/{entry['path']}"
            assert item.path is not None and item.path.is_file(), item.problem
            assert item.version == importlib.metadata.version(entry["package"])
            assert next(r for r in rows if r["id"] == entry["id"])["size"] == item.path.stat().st_size
        else:
            assert item.source == f"corpus/notes/{entry['id']}.md"


def _listing(root: Path) -> dict:
    path = root / "corpus" / "added.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {"items": []}


def test_add_markdown_html_and_text(study_root, study, tmp_path):
    md = tmp_path / "My Notes.md"
    md.write_text("# Mine\n\nMy own words about attention.\n")
    html = tmp_path / "page.html"
    # each section long enough to stand alone (the chunker merges pieces under MIN_TOKENS)
    html.write_text("<html><head><script>var x=1;</script></head><body><h1>Heads</h1><p>Eight heads. "
                    + "Each head attends to every position with its own projections. " * 3 + "</p>"
                    "<h2>Width</h2><p>Sixty-four each. " + "The head outputs are concatenated back to 512. " * 3
                    + "</p></body></html>")
    txt = tmp_path / "plain.txt"
    txt.write_text("plain words\n")
    result = runner.invoke(app, ["corpus", "add", str(md), str(html), str(txt)])
    assert result.exit_code == 0, result.output
    entries = _listing(study_root)["items"]
    assert [(e["id"], e["format"]) for e in entries] == [("my-notes", "markdown"), ("page", "html"), ("plain", "text")]
    for e in entries:
        assert (study_root / "corpus" / e["file"]).is_file()
    assert (study_root / "corpus" / "added" / "my-notes.md").read_text() == md.read_text()

    from n00bqa.retrieval.corpus import item_text, load_items
    from n00bqa.retrieval.index import chunk_item

    page = next(i for i in load_items(study) if i.id == "page")
    assert "var x" not in item_text(page)
    sections = [c.section for c in chunk_item(page)]
    assert sections == ["Heads", "Width"]
    # adding the same content again is refused; --force adds a second copy under a fresh id
    again = runner.invoke(app, ["corpus", "add", str(md)])
    assert again.exit_code == 1 and "same content as corpus item 'my-notes'" in again.output
    again = runner.invoke(app, ["corpus", "add", str(md), "--force"])
    assert again.exit_code == 0 and [e["id"] for e in _listing(study_root)["items"]][-1] == "my-notes-2"
    assert _listing(study_root)["items"][0]["title"] == "Mine"  # from the first heading
    rows = json.loads(runner.invoke(app, ["corpus", "list", "--json"]).output)
    assert {"my-notes", "page", "plain", "my-notes-2"} <= {r["id"] for r in rows if r["kind"] == "added"}


@pytest.mark.parametrize("case", ["missing", "unknown type", "offline url", "bad pdf", "binary txt", "latin-1 txt",
                                  "empty", "bad ipv6 url", "no host url"])
def test_bad_sources_are_one_line_errors_and_add_nothing(study_root, tmp_path, case):
    good = tmp_path / "good.md"
    good.write_text("# Good\n\ntext\n")
    if case == "missing":
        bad, expected = str(tmp_path / "nope.md"), "is not a file"
    elif case == "unknown type":
        bad = tmp_path / "data.docx"
        bad.write_bytes(b"PK\x03\x04")
        bad, expected = str(bad), "'.docx'"
    elif case == "offline url":
        bad, expected = "https://example.invalid/paper.html", "may be offline"  # .invalid never resolves
    elif case == "bad pdf":
        bad = tmp_path / "broken.pdf"
        bad.write_bytes(b"%PDF-1.4 this is not really a pdf")
        bad, expected = str(bad), "cannot read the PDF"
    elif case == "binary txt":
        bad = tmp_path / "image.txt"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
        bad, expected = str(bad), "a NUL byte at offset 8"
    elif case == "latin-1 txt":
        bad = tmp_path / "old.txt"
        bad.write_bytes("caf\u00e9 na\u00efve".encode("latin-1"))
        bad, expected = str(bad), "is not UTF-8 text (byte 0xe9 at offset 3)"
    elif case == "empty":
        bad = tmp_path / "empty.md"
        bad.write_text("\n  \n")
        bad, expected = str(bad), "is empty"
    elif case == "bad ipv6 url":
        bad, expected = "http://[::1", "is not a valid URL"
    else:
        bad, expected = "https://", "names no host"
    before = _listing(study_root)
    result = runner.invoke(app, ["corpus", "add", str(good), bad])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1 and expected in result.output
    assert _listing(study_root) == before
    assert not (study_root / "corpus" / "added").exists()


def test_url_is_fetched_when_reachable(study_root):
    body = b"<html><body><h1>Served</h1><p>Local words about dropout.</p></body></html>"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dropout.html"
        result = runner.invoke(app, ["corpus", "add", url, "--title", "Dropout page"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    entry = _listing(study_root)["items"][0]
    assert entry["url"] == url and entry["format"] == "html" and entry["title"] == "Dropout page"
    assert (study_root / "corpus" / entry["file"]).read_bytes() == body
