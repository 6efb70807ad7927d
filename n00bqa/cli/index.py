"""`n00bqa index build|status` and `n00bqa search TEXT`."""

from __future__ import annotations

import typer

from n00bqa.cli.common import RichReporter, console, err_console, get_study, print_json, warn

index_app = typer.Typer(
    help="The retrieval index over the reading list.\n\nExamples:\n\n  n00bqa index build\n\n  n00bqa index status",
    no_args_is_help=True,
)


@index_app.command("build")
def build(
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-embed every item, ignoring the existing index."),
    as_json: bool = typer.Option(False, "--json", help="Print the build report as JSON."),
) -> None:
    """Build or update the index: only new or changed items are re-embedded.

    An item that cannot be read (a note not written yet, a package not installed) is skipped and
    named on stderr; the rest is indexed.

    Examples:

      n00bqa index build

      n00bqa index build --rebuild
    """
    from rich.markup import escape

    from n00bqa.retrieval import build_index

    study = get_study()
    with RichReporter(delay=0.5, lines=True) as reporter:
        report = build_index(study, rebuild=rebuild, reporter=reporter)
    for item_id, why in report.items_skipped.items():
        err_console.print(f"[yellow]skipped[/] {escape(item_id)}: {escape(why)}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(report.to_dict())
        return
    if not report.changed:
        console.print(f"Index up to date: {report.chunks_total} passages from {len(report.items_reused)} items "
                      f"({report.seconds:.2f} s).")
    else:
        console.print(f"Indexed {report.chunks_total} passages from {len(report.items_embedded) + len(report.items_reused)} "
                      f"items in {report.seconds:.1f} s: embedded {report.chunks_embedded} passages of "
                      f"{len(report.items_embedded)} new/changed items, reused {len(report.items_reused)}"
                      + (f", dropped {len(report.items_removed)} removed" if report.items_removed else "") + ".")


@index_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Where the index is, what model built it, which items are new or changed since, and whether
    its files, the ONNX export and the question vectors are sound (each checked against the
    checksum recorded when it was written). Exits 1 when the index is not usable.

    Examples:

      n00bqa index status

      n00bqa index status --json
    """
    from n00bqa.render import index_items_table
    from n00bqa.retrieval import index_status

    info = index_status(get_study())
    if as_json:
        print_json(info)
        if info["exists"] and not info["usable"]:
            raise typer.Exit(1)
        return
    from rich.markup import escape

    if not info["exists"]:
        console.print(f"No index yet at {info['index_dir']}; build it with: n00bqa index build", soft_wrap=True)
    elif "model" in info:
        console.print(f"Index {info['index_dir']}: {info['chunks_total']} passages, model {info['model']} "
                      f"(dim {info['dim']}), chunker v{info['chunker_version']}, built {info['built_at']}.",
                      highlight=False)
    # every damaged file on its own line, whole (paths and the command stay copyable)
    for problem in info["problems"] or ([info["problem"]] if info.get("problem") else []):
        console.print(f"[red]{escape(problem)}[/]", soft_wrap=True, highlight=False)
    for note in info["notes"]:
        console.print(f"[yellow]{escape(note)}[/]", soft_wrap=True, highlight=False)
    console.print(index_items_table(info["items"]))
    if info["up_to_date"]:
        console.print("Up to date.")
    elif info["exists"] and not info["usable"]:
        console.print("Not usable: rebuild with:\n  n00bqa index build --rebuild", highlight=False)
        raise typer.Exit(1)
    else:
        console.print("Not up to date: run\n  n00bqa index build", highlight=False)


def search_command(
    text: str = typer.Argument(..., help="What you want to read about, in your own words."),
    k: int = typer.Option(5, "-k", "--k", min=1, max=100, metavar="N", help="How many passages."),
    mode: str = typer.Option("hybrid", "--mode", metavar="MODE", help="hybrid (rank fusion, default), dense (embeddings) or lexical (BM25)."),
    as_json: bool = typer.Option(False, "--json", help='Print {"query": ..., "passages": [...]} as JSON.'),
) -> None:
    """Search the reading list: ranked passages with their citations.

    Examples:

      n00bqa search "why is the embedding gradient sparse"

      n00bqa search "MAP@3" --mode lexical -k 3 --json
    """
    from n00bqa.retrieval import search
    from n00bqa.retrieval.index import load_index

    study = get_study()
    index = load_index(study)
    passages = search(study, text, k=k, mode=mode, index=index)
    # an ask stopped while it indexed the library sources leaves them pending: say what is not searched
    pending = list(index.manifest.get("pending") or [])
    if pending:
        from n00bqa.text import listed, sources

        warn(f"{sources(len(pending))} not indexed yet ({listed(pending)}) "
             "and not searched: run `n00bqa index build`")
    if as_json:
        print_json({"query": text, "mode": mode, "passages": [p.to_dict() for p in passages], "pending": pending})
        return
    from n00bqa.render import passage_view

    if not passages:
        console.print("No passage matches; try other words or --mode dense.")
    for rank, passage in enumerate(passages, 1):
        console.print(passage_view(passage, rank))


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
    app.command("search")(search_command)
