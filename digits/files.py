"""Writing files and folders so that a crash never leaves one half-written."""

from contextlib import contextmanager
import json
import os
from pathlib import Path
import secrets
import shutil

from digits.errors import InputError, first_line


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`, with the same suffix; rename it over `path` on success.

    The rename is atomic on one file system, so readers see the old file or the new
    one, never a part. On an exception (Ctrl-C included) the temporary file is removed.
    The suffixes are kept because Keras and Matplotlib pick the format from them
    (Keras's save_weights wants a name ending in .weights.h5).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffixes = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffixes)]
    temporary = path.with_name(f".{stem}.{os.getpid()}-{secrets.token_hex(4)}.partial{suffixes}")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path):
    """atomic_path for a folder: a temporary folder beside `path`, renamed over it on success.

    A folder cannot be renamed over one that holds files, so the old one is renamed aside first and
    removed after: readers see the old folder or the new one (or for an instant none), never a mix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    temporary, old = path.with_name(f".{path.name}.{token}.partial"), path.with_name(f".{path.name}.{token}.old")
    try:
        yield temporary
        if path.exists():
            os.replace(path, old)
        os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def read_json(path):
    """The JSON value in the file `path`; InputError, naming it, if it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot be read as JSON ({first_line(error)})") from None


def write_json(path, value):
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(value, indent=2) + "\n")


def write_text(path, text):
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def short_path(path):
    """`path` as a figure title shows it: relative to the working folder when inside it, else its
    last two parts, so that no title carries a temporary folder's or a home folder's full path."""
    path = Path(path).absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(Path(*path.parts[-2:]))
