"""Writing files and folders so that a crash never leaves one half-written, and naming a model file
that is not whole (cut short by a copy or a crash elsewhere) before TensorFlow loads to read it."""

from contextlib import contextmanager
import hashlib
import json
import os
import re
from pathlib import Path
import secrets
import shutil
import zipfile

from digits.errors import InputError, first_line

ZIP_MAGIC = b"PK\x03\x04"  # how a zip archive, and so a .keras model, begins


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


def sha256_of(path):
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


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


def check_model_format(path):
    """Refuse a model file that is not of its suffix's format, or is cut short: a .keras file is a
    zip archive, a .h5 file an HDF5 file (Keras says "File not found" of a file it cannot open).
    Reads no more than the file's structure, so scripts check a model before TensorFlow loads."""
    path = Path(path)
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        if starts_with(path, ZIP_MAGIC):  # a zip archive's start without its end: cut short
            raise InputError(f"{path}: not a complete Keras model (the zip archive is cut short: "
                             "its end, which lists its contents, is missing)")
        raise InputError(f"{path}: not a Keras model (the file is not a zip archive, as .keras models are)")
    if path.suffix != ".h5":
        return
    import h5py  # only here: every script imports this module at start-up

    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not a Keras model (the file is not an HDF5 file, as .h5 models are)")
    try:
        h5py.File(path, "r").close()
    except OSError as error:  # an HDF5 start whose file cannot be opened, most often cut short
        sizes = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(error))
        problem = (f"the HDF5 file is cut short: {int(sizes[1]):,} of its {int(sizes[2]):,} bytes" if sizes
                   else f"the HDF5 file cannot be opened: {first_line(error)}")
        raise InputError(f"{path}: not a complete Keras model ({problem})") from None


def starts_with(path, magic):
    try:
        with open(path, "rb") as file:
            return file.read(len(magic)) == magic
    except OSError:
        return False
