"""MkDocs hook: the site serves the repository's README as its home page and the files outside docs/
that the pages link to, so that one relative link works both on a code host and in the site.

A link is written as the code host reads it, relative to the file on disk (`../results/report/dropout.png`
from docs/REPRODUCTION.md, `docs/training.md` from README.md). Here every file gets a place in the site
(docs/X at X, README.md at index.md, any other repository file at its repository path) and each link is
rewritten to point at its target's place. A link to a file that does not exist is left as written, so
that `mkdocs build --strict` fails on it.
"""

import posixpath
import re
from pathlib import Path
from urllib.parse import unquote

from mkdocs.structure.files import File, InclusionLevel

# The target of a Markdown link or image, `](target)` or `](target "title")`.
LINK = re.compile(r"\]\((?P<target>[^)\s]+)(?P<rest>[^)]*)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _root(config):
    return Path(config.docs_dir).resolve().parent


def _site_uri(path, config):
    """Where the file at `path` (absolute) lives in the site."""
    docs, root = Path(config.docs_dir).resolve(), _root(config)
    if path.is_relative_to(docs):
        return path.relative_to(docs).as_posix()
    if path == root / "README.md":
        return "index.md"
    return path.relative_to(root).as_posix()


def _targets(markdown, source):
    """(link text span, the file on disk it names) for every relative link in `markdown`."""
    code = [match.span() for match in FENCE.finditer(markdown)]
    for match in LINK.finditer(markdown):
        if any(start <= match.start() < end for start, end in code):
            continue
        target = match.group("target")
        path, _, _ = target.partition("#")
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", path) or path.startswith("/"):
            continue
        resolved = (source.parent / unquote(path)).resolve()
        if resolved.is_dir() and (resolved / "README.md").is_file():
            resolved = resolved / "README.md"
        yield match, resolved


def on_files(files, config):
    """Add README.md as the home page and every file outside docs/ that a page links to, transitively."""
    root = _root(config)
    readme = File.generated(config, "index.md", abs_src_path=str(root / "README.md"))
    files.append(readme)
    pending = [Path(file.abs_src_path) for file in files.documentation_pages()]
    while pending:
        source = pending.pop()
        for _, path in _targets(source.read_text(encoding="utf-8"), source):
            if not path.is_file() or not path.is_relative_to(root):
                continue
            uri = _site_uri(path, config)
            if files.get_file_from_path(uri) is None:
                # Served and checked, but no page of the nav: a table the sweeps write, the data's README.
                files.append(File.generated(config, uri, abs_src_path=str(path),
                                            inclusion=InclusionLevel.NOT_IN_NAV))
                if path.suffix == ".md":
                    pending.append(path)
    return files


def on_page_markdown(markdown, page, config, files):
    """Point every relative link at its target's place in the site."""
    source = Path(page.file.abs_src_path)
    here = posixpath.dirname(page.file.src_uri)
    pieces, last = [], 0
    for match, path in _targets(markdown, source):
        if not path.is_file():
            continue  # left as written: strict mode reports it
        _, hash_, anchor = match.group("target").partition("#")
        new = posixpath.relpath(_site_uri(path, config), here or ".") + hash_ + anchor
        pieces += [markdown[last:match.start()], f"]({new}{match.group('rest')})"]
        last = match.end()
    return "".join(pieces) + markdown[last:]
