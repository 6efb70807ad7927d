"""The reading list as items the index can read: notes, installed library sources, added copies.

Three kinds of item:

- `note`: our own study note, `corpus/notes/<id>.md`, listed in corpus/reading-list.yaml.
- `library`: a source file of an installed package (`package` + `path` in reading-list.yaml),
  read from the learner's own installation when the index is built, never copied into the
  repo. Cited as `torch/nn/modules/sparse.py:12` with the installed version.
- `added`: a copy the learner added with `n00bqa corpus add` (Markdown, text, HTML, PDF or a
  URL). The file is copied to `corpus/added/<id>.<ext>` and recorded in `corpus/added.yaml`,
  so it stays readable even if the original moves; the next `n00bqa index build` indexes it.

No torch here: reading and hashing the corpus is cheap, so `index build` can tell in well under a
second that nothing changed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import re
import http.client
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from n00bqa.atomic import atomic_write_bytes, atomic_write_text
from n00bqa.errors import CorpusError
from n00bqa.guards import inside
from n00bqa.study import Study

READING_LIST = "reading-list.yaml"
ADDED_LIST = "added.yaml"
ADDED_DIR = "added"

# suffix -> format of an added file
FORMATS = {
    ".md": "markdown", ".markdown": "markdown",
    ".txt": "text", ".text": "text", ".rst": "text",
    ".html": "html", ".htm": "html",
    ".pdf": "pdf",
}


@dataclass
class Item:
    """One reading-list item, resolved to a file it can be read from."""

    id: str
    kind: str  # note | library | added
    title: str
    source: str  # how passages cite it: corpus/notes/x.md, torch/nn/modules/sparse.py
    path: Path | None  # the file on disk, None when it cannot be found
    format: str  # markdown | python | text | html | pdf
    url: str = ""
    package: str = ""
    version: str = ""  # installed version, for library items
    topics: list[str] = field(default_factory=list)
    problem: str = ""  # why the item cannot be read, when path is None
    outside: bool = False  # its YAML names a file outside the folder it must be in (never read)

    @property
    def display_title(self) -> str:
        return f"{self.title} [{self.package} {self.version}]" if self.version else self.title

    def read_bytes(self) -> bytes:
        from n00bqa.guards import MAX_ITEM_BYTES, Refused, read_regular

        if self.path is None or not self.path.is_file():
            raise CorpusError(f"reading-list item {self.id!r}: {self.problem or 'file is missing'}")
        try:
            return read_regular(self.path, MAX_ITEM_BYTES)
        except Refused as exc:
            raise CorpusError(f"reading-list item {self.id!r}: {self.path} {exc}") from None
        except OSError as exc:  # no permission, a disk error: this item is skipped, not the build
            raise CorpusError(f"reading-list item {self.id!r}: cannot read {str(self.path)!r} "
                              f"({exc.strerror or type(exc).__name__}); fix its permissions or remove it") from exc

    def content_hash(self) -> str:
        """sha256 of the file's bytes (and the package version, for library sources)."""
        digest = hashlib.sha256(self.read_bytes())
        digest.update(self.version.encode())
        return digest.hexdigest()

    def size(self) -> int | None:
        return self.path.stat().st_size if self.path is not None and self.path.is_file() else None


def _package_dir(package: str) -> Path | None:
    """The installed package's folder, found without importing it (torch takes seconds)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _package_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return ""


def _load_yaml(path: Path) -> dict:
    from n00bqa.guards import MAX_YAML_BYTES, Refused, load_yaml, read_regular

    try:
        data = load_yaml(read_regular(path, MAX_YAML_BYTES).decode("utf-8", errors="replace")) or {}
    except Refused as exc:
        raise CorpusError(f"{str(path)!r} {exc}") from None
    except OSError as exc:
        raise CorpusError(f"cannot read {str(path)!r} ({exc.strerror or type(exc).__name__}); check it") from None
    except yaml.YAMLError as exc:
        raise CorpusError(f"{str(path)!r} is not valid YAML ({str(exc).splitlines()[0]}); fix or restore it") from None
    if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
        raise CorpusError(f"{str(path)!r} must hold a mapping with an 'items:' list; fix or restore it")
    return data


def _entries(path: Path, needs: tuple[str, ...] = ()) -> list[dict]:
    """The `items:` of a reading-list file, each checked to be a mapping with an id (and `needs`)."""
    if not path.is_file():
        return []
    entries = _load_yaml(path).get("items", []) or []
    for n, entry in enumerate(entries, 1):
        missing = [k for k in ("id", *needs) if not isinstance(entry, dict) or entry.get(k) in (None, "")]
        if missing:
            raise CorpusError(f"{str(path)!r}: item {n} has no {' or '.join(missing)!r} "
                              f"(it reads {entry!r:.60}); give it one or remove it")
    return entries


def load_items(study: Study) -> list[Item]:
    """Every item: the reading list's notes and library sources, then the learner's added items."""
    root = study.root
    cdir = study.corpus_dir
    items: list[Item] = []
    manifest = cdir / READING_LIST
    entries = _entries(manifest)
    for entry in entries:
        kind = entry.get("kind", "note")
        item_id = str(entry["id"])
        title = str(entry.get("title", item_id))
        topics = list(entry.get("topics") or [])
        if kind == "library":
            package, rel = str(entry["package"]), str(entry["path"])
            pdir = _package_dir(package)
            path = pdir / rel if pdir is not None else None
            problem, outside = "", False
            if pdir is None:
                problem = f"package {package!r} is not installed; install it or remove the item"
            elif not inside(path, pdir):
                problem, outside, path = (f"path {rel!r} is outside the installed package {package!r}; a library "
                                          "item names a file of its package, e.g. nn/modules/sparse.py"), True, None
            elif not path.is_file():
                problem = f"{package}/{rel} does not exist in the installed {package}"
                path = None
            items.append(Item(item_id, "library", title, f"{package}/{rel}", path,
                              "python" if rel.endswith(".py") else "text", url=str(entry.get("url", "")),
                              package=package, version=_package_version(package), topics=topics, problem=problem,
                              outside=outside))
        else:
            rel = str(entry.get("note", f"notes/{item_id}.md"))
            path = cdir / rel
            if not inside(path, cdir):
                items.append(Item(item_id, "note", title, f"corpus/{rel}", None, "markdown", topics=topics,
                                  problem=f"note {rel!r} is outside corpus/; a study root reads only its own "
                                          "files: move the note into corpus/notes/ and name it notes/NAME.md",
                                  outside=True))
                continue
            items.append(Item(item_id, "note", title, f"corpus/{rel}", path if path.is_file() else None,
                              "markdown", url=str(entry.get("url", "")), topics=topics,
                              problem="" if path.is_file() else f"note corpus/{rel} is not written yet"))
    added = cdir / ADDED_LIST
    # the built-in study has no added copies: one in a checkout's corpus/ is the learner's, not ours
    for entry in [] if study.builtin else _entries(added, needs=("file",)):
        rel = str(entry["file"])
        path = cdir / rel
        if not inside(path, cdir / ADDED_DIR):
            items.append(Item(str(entry["id"]), "added", str(entry.get("title", entry["id"])), rel, None,
                              str(entry.get("format", "text")),
                              problem=f"file {rel!r} is outside corpus/{ADDED_DIR}/, where `n00bqa corpus add` "
                                      "keeps its copies; add the file again with: n00bqa corpus add PATH",
                              outside=True))
            continue
        items.append(Item(str(entry["id"]), "added", str(entry.get("title", entry["id"])),
                          str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                          path if path.is_file() else None, str(entry.get("format", "text")),
                          url=str(entry.get("url", "")), problem="" if path.is_file() else f"corpus/{rel} is missing"))
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise CorpusError(f"reading-list id {item.id!r} appears twice; give each item its own id")
        seen.add(item.id)
    return items


def outside_paths(study: Study) -> list[str]:
    """One line per reading-list item whose YAML names a file outside its folder (such items are
    never read): what `questions check` reports."""
    listing = {"added": ADDED_LIST}
    return [f"{study.corpus_dir / listing.get(item.kind, READING_LIST)}: item {item.id!r}: {item.problem}"
            for item in load_items(study) if item.outside]


def item_text(item: Item) -> str:
    """The item as text to chunk (HTML and PDF converted; each keeps its line numbers)."""
    data = item.read_bytes()
    if item.format == "pdf":
        return _pdf_text(data, item.id)
    if item.kind == "added":
        binary = binary_problem(data)
        if binary:  # copied in by hand, or added before this check: skipped, never indexed as garbage
            raise CorpusError(f"item {item.id!r} ({item.source}) {binary}; remove it with: n00bqa corpus remove {item.id}")
    text = data.decode("utf-8", errors="replace")
    if item.format == "html":
        return html_to_markdown(text)
    return text


@contextmanager
def _quiet_pypdf():
    """pypdf's own complaints about a damaged file (logging, and a few `warnings`) would print
    before our one line; the line we raise says what matters."""
    import logging
    import warnings

    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pypdf_log.setLevel(level)


def _pdf_text(data: bytes, item_id: str) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with _quiet_pypdf():
            reader = PdfReader(io.BytesIO(data))
            pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, OSError, KeyError, TypeError, AttributeError) as exc:
        raise CorpusError(f"cannot read the PDF of item {item_id!r}: {exc}; add a text copy instead") from None
    # one Markdown section per page, so passages cite "page 3"
    return "\n\n".join(f"# page {i}\n\n{text.strip()}" for i, text in enumerate(pages, 1))


def html_to_markdown(html: str) -> str:
    """Visible text of an HTML page, headings kept as Markdown headings (for section paths)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        tag.decompose()
    for level in range(1, 7):
        for tag in soup.find_all(f"h{level}"):
            tag.replace_with(f"\n\n{'#' * level} {tag.get_text(' ', strip=True)}\n\n")
    for tag in soup.find_all(["p", "li", "pre", "div", "br", "tr"]):
        tag.insert_after("\n")
    text = soup.get_text()
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


# --- corpus add -------------------------------------------------------------------------------


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "item"


def _unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def fetch_url(url: str, timeout: float = 15.0) -> tuple[bytes, str]:
    """Download a URL; return (bytes, format). Raises CorpusError when offline or refused."""
    request = urllib.request.Request(url, headers={"User-Agent": "n00bqa corpus add"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data = response.read()
            ctype = response.headers.get_content_type()
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise CorpusError(
            f"cannot fetch {url!r} ({reason}); the machine may be offline: save the page yourself "
            "and run: n00bqa corpus add FILE"
        ) from exc
    suffix = Path(urllib.parse.urlparse(url).path).suffix.lower()
    if ctype == "application/pdf" or suffix == ".pdf":
        return data, "pdf"
    if ctype in ("text/html", "application/xhtml+xml"):
        return data, "html"
    if ctype == "text/markdown" or suffix in (".md", ".markdown"):
        return data, "markdown"
    if ctype.startswith("text/"):
        return data, "text"
    raise CorpusError(f"{url!r} is {ctype!r}, not Markdown, text, HTML or PDF; save a copy in one of those formats")


# An added file past this size is accepted with a warning: a 20 MB text is ~16,000 passages, many
# minutes of embedding on a laptop CPU (about 45 s per MB measured on 2 cores).
WARN_BYTES = 2_000_000
SECONDS_PER_MB = 45


def binary_problem(data: bytes) -> str:
    """Why bytes are no text to index ("" when they are text): a NUL byte, or not UTF-8."""
    nul = data.find(b"\0")
    if nul >= 0:
        return f"holds binary data (a NUL byte at offset {nul:,}), not text"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (f"is not UTF-8 text (byte {data[exc.start]:#04x} at offset {exc.start:,}); if it is text in "
                "another encoding, convert it first, e.g. iconv -f latin1 -t utf-8")
    return ""


def first_heading(data: bytes, fmt: str) -> str:
    """The title an added file gives itself: its first Markdown heading, an HTML <title> or <h1>
    (PDF: its metadata title); "" when it has none."""
    if fmt == "pdf":
        import io

        from pypdf import PdfReader

        try:
            with _quiet_pypdf():
                meta = PdfReader(io.BytesIO(data)).metadata
            return str(meta.title).strip() if meta is not None and meta.title else ""
        except Exception:  # noqa: BLE001 - a title is a nicety; the text was already read
            return ""
    text = data.decode("utf-8", errors="replace")
    if fmt == "html":
        match = re.search(r"<title[^>]*>(.*?)</title>|<h1[^>]*>(.*?)</h1>", text, re.I | re.S)
        title = re.sub(r"<[^>]+>", "", (match.group(1) or match.group(2))) if match else ""
        return re.sub(r"\s+", " ", title).strip()[:120]
    match = re.search(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.M) if fmt == "markdown" else None
    return match.group(1).strip()[:120] if match else ""


@dataclass
class AddReport:
    """What `corpus add` did: the items it added and what the learner should know about them."""

    items: list[Item]
    warnings: list[str] = field(default_factory=list)


def _known_contents(study: Study, items: list[Item]) -> dict[str, str]:
    """sha256 of the bytes -> item id, for every item on disk a new copy could duplicate."""
    known = {}
    for item in items:
        if item.kind == "library" or item.path is None:
            continue
        try:
            known.setdefault(hashlib.sha256(item.path.read_bytes()).hexdigest(), item.id)
        except OSError:
            continue
    return known


def _check_url(source: str) -> None:
    bad = next((c for c in source if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:  # http.client would refuse it with its own exception, mid-request
        raise CorpusError(f"{source!r} is not a valid URL: it contains {bad!r}; write a space as %20, "
                          "e.g. https://example.org/my%20page.html")
    try:
        parts = urllib.parse.urlparse(source)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as exc:
        raise CorpusError(f"{source!r} is not a valid URL ({exc}); check it, e.g. https://example.org/page.html") from None
    if not parts.netloc:
        raise CorpusError(f"{source!r} names no host; give a whole URL, e.g. https://example.org/page.html")


def add_items(study: Study, sources: list[str], title: str | None = None, force: bool = False) -> AddReport:
    """Copy files (or fetched URLs) into corpus/added/ and record them in corpus/added.yaml.

    Every source is checked (and URLs fetched) before anything is written, so one bad source
    adds nothing and loses nothing. Refused: a file that is empty or not text (NUL bytes, not
    UTF-8), and content already in the corpus (same bytes) unless `force`. A large file is added
    with a warning of how long indexing it takes. The title is `title`, else the file's first
    heading, else its name. The whole add holds the root's write lock, so six `corpus add` at once
    list six items in corpus/added.yaml, each with its own id and copy.
    """
    from n00bqa.locks import root_lock

    study.require_writable()
    with root_lock(study):
        return _add_items(study, sources, title, force)


def _add_items(study: Study, sources: list[str], title: str | None, force: bool) -> AddReport:
    if not sources:
        raise CorpusError("no PATH or URL given; run: n00bqa corpus add PATH|URL...")
    cdir = study.corpus_dir
    existing = load_items(study)
    taken = {item.id for item in existing}
    known = _known_contents(study, existing)
    warnings: list[str] = []
    staged: list[tuple[str, bytes, str, str, str, str]] = []  # (id, data, format, title, origin, sha256)
    for source in sources:
        if re.match(r"^https?://", source, re.I):
            _check_url(source)
            data, fmt = fetch_url(source)
            parts = urllib.parse.urlparse(source)
            base = _slug(Path(parts.path).stem or parts.netloc)
            origin = source
        else:
            path = Path(source).expanduser()
            if not path.is_file():
                raise CorpusError(f"{source!r} is not a file; give the path of a Markdown, text, HTML or PDF file")
            fmt = FORMATS.get(path.suffix.lower())
            if fmt is None:
                raise CorpusError(
                    f"{source!r} has type {path.suffix or '(none)'!r}; n00bqa reads "
                    f"{', '.join(sorted(FORMATS))}: convert it to one of those"
                )
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CorpusError(f"cannot read {source!r} ({exc.strerror or exc}); check its permissions") from None
            base, origin = _slug(path.stem), str(path.resolve())
        if not data.strip():
            raise CorpusError(f"{source!r} is empty; there is nothing to index in it")
        if fmt == "pdf":
            _pdf_text(data, base)  # unreadable PDFs fail now, before anything is written
        else:
            binary = binary_problem(data)
            if binary:
                raise CorpusError(f"{source!r} {binary}; n00bqa indexes Markdown, text, HTML or PDF")
        digest = hashlib.sha256(data).hexdigest()
        if digest in known and not force:
            raise CorpusError(f"{source!r} has the same content as corpus item {known[digest]!r}; nothing added "
                              f"(add it anyway with --force, or remove the old one: n00bqa corpus remove {known[digest]})")
        if len(data) > WARN_BYTES:
            megabytes = len(data) / 1e6
            warnings.append(f"{source!r} is {megabytes:.0f} MB: indexing it takes about "
                            f"{max(1, round(megabytes * SECONDS_PER_MB / 60))} min on 2 cores")
        item_id = _unique_id(base, taken)
        taken.add(item_id)
        known.setdefault(digest, item_id)
        staged.append((item_id, data, fmt, title or first_heading(data, fmt) or base, origin, digest))

    listing = cdir / ADDED_LIST
    entries = _entries(listing, needs=("file",))
    ext = {"markdown": ".md", "text": ".txt", "html": ".html", "pdf": ".pdf"}
    for item_id, data, fmt, item_title, origin, digest in staged:
        rel = f"{ADDED_DIR}/{item_id}{ext[fmt]}"
        atomic_write_bytes(cdir / rel, data)
        entry = {"id": item_id, "kind": "added", "title": item_title, "file": rel, "format": fmt,
                 "sha256": digest, "added": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        entry["url" if origin.startswith("http") else "origin"] = origin
        entries.append(entry)
    _write_listing(listing, entries)
    added_ids = {s[0] for s in staged}
    return AddReport([item for item in load_items(study) if item.id in added_ids], warnings)


def _write_listing(listing: Path, entries: list[dict]) -> None:
    atomic_write_text(listing, "# Items added with `n00bqa corpus add` (copies live in corpus/added/).\n"
                      + yaml.safe_dump({"items": entries}, sort_keys=False, allow_unicode=True))


def remove_item(study: Study, item_id: str) -> Item:
    """Remove an added item: its entry in corpus/added.yaml and its copy in corpus/added/.

    The next `n00bqa index build` drops its passages. Notes and library sources live in
    corpus/reading-list.yaml, which is the learner's own file: they are named, not edited.
    """
    from n00bqa.locks import root_lock

    study.require_writable()
    with root_lock(study):
        return _remove_item(study, item_id)


def _remove_item(study: Study, item_id: str) -> Item:
    items = load_items(study)
    by_id = {item.id: item for item in items}
    item = by_id.get(item_id)
    if item is None:
        from difflib import get_close_matches

        close = get_close_matches(item_id, list(by_id), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; see: n00bqa corpus list"
        raise CorpusError(f"no corpus item {item_id!r}{hint}")
    if item.kind != "added":
        raise CorpusError(f"{item_id!r} is a {item.kind} item of corpus/reading-list.yaml, not an added copy; "
                          f"to drop it, delete its entry there (then run: n00bqa index build)")
    listing = study.corpus_dir / ADDED_LIST
    entries = _entries(listing, needs=("file",))
    kept = [e for e in entries if str(e["id"]) != item_id]
    removed = [e for e in entries if str(e["id"]) == item_id]
    _write_listing(listing, kept)
    added_dir = (study.corpus_dir / ADDED_DIR).resolve()
    for entry in removed:
        copy = (study.corpus_dir / str(entry["file"])).resolve()
        if copy.is_relative_to(added_dir):  # never delete outside corpus/added/, whatever the YAML says
            try:
                copy.unlink(missing_ok=True)
            except OSError as exc:
                from n00bqa.errors import WriteError

                raise WriteError(f"cannot remove {str(copy)!r}: {exc.strerror or exc}; its entry is gone "
                                 "from corpus/added.yaml, delete the file by hand") from None
    return item


def item_ids(study: Study) -> list[str]:
    """Every corpus item id (shell completion), [] when the reading list cannot be read."""
    try:
        return [item.id for item in load_items(study)]
    except CorpusError:
        return []


__all__ = ["Item", "AddReport", "load_items", "item_text", "add_items", "remove_item", "item_ids", "fetch_url",
           "html_to_markdown", "binary_problem", "first_heading", "FORMATS"]
