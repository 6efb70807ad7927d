"""`n00bqa corpus add PATH|URL...` and `n00bqa corpus list` (the coverage report)."""

from __future__ import annotations

from typing import List, Optional

import typer

from n00bqa.cli.common import console, get_study, print_json

corpus_app = typer.Typer(help="The reading list: notes, library sources and your own added copies.",
                         no_args_is_help=True)


@corpus_app.command("add")
def add(
    sources: List[str] = typer.Argument(..., help="Files (.md, .txt, .html, .pdf) or http(s) URLs."),
    title: Optional[str] = typer.Option(None, "--title", help="Title for the added item(s). Default: the file name."),
) -> None:
    """Add your own copies to the corpus (copied to corpus/added/, listed in corpus/added.yaml).

    The next `n00bqa index build` indexes them. If any source is bad, nothing is added.

    Examples:

      n00bqa corpus add ~/papers/attention.pdf

      n00bqa corpus add notes.md https://example.org/post.html
    """
    from n00bqa.retrieval.corpus import add_items

    for item in add_items(get_study(write=True), sources, title=title):
        console.print(f"Added {item.id} ({item.format}, {item.size()} bytes) as {item.source}; "
                      "run n00bqa index build to index it.", highlight=False)


@corpus_app.command("list")
def list_items(as_json: bool = typer.Option(False, "--json", help="Print a JSON list of items.")) -> None:
    """Every reading-list item: id, kind, size, passages in the index, and whether it is indexed."""
    from n00bqa.render import coverage_table
    from n00bqa.retrieval import index_status

    info = index_status(get_study())
    if as_json:
        print_json(info["items"])
        return
    # the source path is in --json; at 80 columns it would squeeze the rest
    console.print(coverage_table(info["items"], show_source=console.width >= 120))
    done = sum(r["state"] == "indexed" for r in info["items"])
    console.print(f"{done} of {len(info['items'])} items indexed.")
    if done < len(info["items"]):
        console.print("new: not indexed yet; changed: edited since the last build; stale: the index was built by "
                      "another model or chunker; missing: cannot be read. Run: n00bqa index build")


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
