"""`n00bqa corpus add PATH|URL...`, `n00bqa corpus remove ID` and `n00bqa corpus list` (the coverage report)."""

from __future__ import annotations

from typing import List, Optional

import typer

from n00bqa.cli.common import console, get_study, print_json, warn

corpus_app = typer.Typer(
    help="The reading list: notes, library sources and your own added copies.\n\nExamples:\n\n"
         "  n00bqa corpus list\n\n  n00bqa corpus add my-notes.md\n\n  n00bqa corpus remove my-notes",
    no_args_is_help=True,
)


def complete_item_id(incomplete: str) -> list[str]:
    """Shell completion of corpus item ids (never raises: a broken root completes nothing)."""
    try:
        from n00bqa.retrieval.corpus import item_ids

        return [i for i in item_ids(get_study()) if i.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion must stay silent
        return []


@corpus_app.command("add")
def add(
    sources: List[str] = typer.Argument(..., help="Files (.md, .txt, .html, .pdf) or http(s) URLs."),
    title: Optional[str] = typer.Option(None, "--title", metavar="TITLE", help="Title for the added item(s). Default: the first "
                                        "heading, else the file name."),
    force: bool = typer.Option(False, "--force", help="Add a copy even if the same content is already in the corpus."),
) -> None:
    """Add your own copies to the corpus (copied to corpus/added/, listed in corpus/added.yaml).

    The next `n00bqa index build` indexes them. If any source is bad (missing, empty, binary,
    already in the corpus), nothing is added.

    Examples:

      n00bqa corpus add ~/papers/attention.pdf

      n00bqa corpus add notes.md https://example.org/post.html
    """
    from n00bqa.retrieval.corpus import add_items

    report = add_items(get_study(write=True), sources, title=title, force=force)
    for message in report.warnings:
        warn(message)
    for item in report.items:
        console.print(f"Added {item.id} ({item.format}, {item.size():,} bytes, \"{item.title}\") as {item.source}.",
                      highlight=False, soft_wrap=True)
    console.print("Index it with:\n  n00bqa index build", highlight=False)


@corpus_app.command("remove")
def remove(
    item_id: str = typer.Argument(..., metavar="ID", help="An added item's id (see: n00bqa corpus list).",
                                  autocompletion=complete_item_id, show_default=False),
) -> None:
    """Remove an item you added: its copy in corpus/added/ and its entry in corpus/added.yaml.

    Notes and library sources are entries of corpus/reading-list.yaml: edit that file to drop one.

    Example:

      n00bqa corpus remove my-notes
    """
    from n00bqa.retrieval.corpus import remove_item

    item = remove_item(get_study(write=True), item_id)
    console.print(f"Removed {item.id} ({item.source}). Drop its passages from the index with:\n  n00bqa index build",
                  highlight=False, soft_wrap=True)


@corpus_app.command("list")
def list_items(as_json: bool = typer.Option(False, "--json", help="Print a JSON list of items.")) -> None:
    """Every reading-list item: id, kind, size, passages in the index, and whether it is indexed.

    Examples:

      n00bqa corpus list

      n00bqa corpus list --json
    """
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
                      "another model or chunker; missing: cannot be read. Index them with:\n  n00bqa index build",
                      highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(corpus_app, name="corpus")
