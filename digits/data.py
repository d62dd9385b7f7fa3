"""Loading MNIST, checking it, and turning it into what the network eats.

A data source is one of: "mnist" (the default; None means it too), the complete MNIST
shipped with the project in data/mnist/, checked against its checksums before it is
read; "keras", keras.datasets.mnist.load_data(), which reads the Keras cache and
downloads on a miss; or a path: a Keras-layout .npz or a folder of the four original
IDX files (plain or .gz). Whatever the source, the arrays are checked before anyone
trains on them, and any problem is an InputError naming the file.
"""

from dataclasses import dataclass, replace
import gzip
import hashlib
import json
import math
import os
from pathlib import Path
import zipfile
import zlib

import numpy as np

from digits.config import IMAGE_SIZE, NUM_CLASSES
from digits.errors import InputError, first_line

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_UNSIGNED_BYTE = 0x08

SHIPPED = "mnist"  # the data source name of the copy in data/mnist/
KERAS = "keras"  # the data source name of the Keras cache
SHIPPED_FOLDER = Path(__file__).resolve().parent.parent / "data" / "mnist"
# SHA-256 of the four original 1998 files as shipped (their MD5s, the well-known ones, are in data/mnist/README.md).
SHIPPED_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
SOURCE_NAMES = {SHIPPED: "MNIST shipped in data/mnist", KERAS: "MNIST from the Keras cache"}


def data_source(given=None, saved=None):
    """The data a script reads, decided here for every script: --data (`given`), else the data the
    saved run it starts from was trained on (`saved`), else $MNIST_DATA, else the shipped MNIST."""
    return given or saved or os.environ.get("MNIST_DATA") or SHIPPED


def load_mnist(path=None, limit=None):
    """Return MNIST as uint8 arrays ((x_train, y_train), (x_test, y_test)).

    path: "mnist" or None (the shipped copy), "keras" (the Keras cache), a .npz file or a
    folder of IDX files.
    limit: keep only the first `limit` training images (the test set stays whole).
    """
    path = path or SHIPPED
    if path == KERAS:
        arrays = load_keras_cache()
    else:
        folder = SHIPPED_FOLDER if path == SHIPPED else Path(path)
        if folder.resolve() == SHIPPED_FOLDER:
            check_shipped(folder)
        arrays = load_path(folder)
    source = describe_source(path)
    x_train, y_train = check_split(arrays["x_train"], arrays["y_train"], f"{source} (training set)")
    x_test, y_test = check_split(arrays["x_test"], arrays["y_test"], f"{source} (test set)")
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    return (x_train, y_train), (x_test, y_test)


@dataclass(frozen=True)
class Dataset:
    """Training and test images (uint8, N x 28 x 28) with their labels (uint8 0-9), and where they came from."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str

    def fingerprint(self, validation_split=0.0):
        """What a run with this validation split trains, validates and tests on, for its record:
        the source, and each part's image count and SHA-256 (of its images and labels), and
        `sha256`, one hash of the three that names the data a run saw, whatever its path."""
        split = split_point(len(self.train_images), validation_split)
        parts = {
            "train": part_summary(self.train_images[:split], self.train_labels[:split]),
            "validation": (part_summary(self.train_images[split:], self.train_labels[split:])
                           if split < len(self.train_images) else None),
            "test": part_summary(self.test_images, self.test_labels),
        }
        combined = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return {"source": self.source, **parts, "sha256": combined}

    def with_extra_training(self, images, labels):
        """The same data with more training images (a person's own digits) put first, so that a
        validation slice, which is the end of the training images, stays MNIST's alone."""
        return replace(self, train_images=np.concatenate([images, self.train_images]),
                       train_labels=np.concatenate([labels, self.train_labels]),
                       source=f"{self.source}, after {len(images):,} training images of a person's own")


def part_summary(images, labels):
    return {"images": len(images), "sha256": hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()}


def split_point(count, fraction):
    """Where the validation slice starts: the last `fraction` of the data, as Keras's validation_split."""
    return int(math.floor(count * (1.0 - fraction))) if fraction else count


def describe_data(fingerprint):
    """E.g. 'MNIST shipped in data/mnist: 54,000 training, 6,000 validation and 10,000 test images
    (data 3f2a9c1e)', for tables and figure titles."""
    counts = [f"{fingerprint['train']['images']:,} training"]
    if fingerprint.get("validation"):
        counts.append(f"{fingerprint['validation']['images']:,} validation")
    counts.append(f"{fingerprint['test']['images']:,} test images")
    listed = ", ".join(counts[:-1]) + " and " + counts[-1]
    return f"{fingerprint['source']}: {listed} (data {fingerprint['sha256'][:8]})"


def load_dataset(path=None, limit=None):
    """load_mnist's arrays as a Dataset; see load_mnist for `path`."""
    (x_train, y_train), (x_test, y_test) = load_mnist(path, limit)
    return Dataset(x_train, y_train, x_test, y_test, source=describe_source(path or SHIPPED, limit))


def describe_source(path, limit=None):
    """A data source for people: its name, or its path; with the limit, if any."""
    shipped = path not in SOURCE_NAMES and Path(path).resolve() == SHIPPED_FOLDER
    name = SOURCE_NAMES[SHIPPED] if shipped else SOURCE_NAMES.get(path, str(path))
    return name if limit is None else f"{name}, first {limit:,} training images"


def absolute(source):
    """A data source that means the same from any folder: a name as it is, a path made absolute."""
    return source if source in SOURCE_NAMES else str(Path(source).resolve())


def check_shipped(folder):
    """Refuse a shipped copy that is not byte for byte the original: a changed byte could
    otherwise decompress into a different, silently wrong digit."""
    for name, expected in SHIPPED_SHA256.items():
        path = folder / name
        restore = "restore it with `git checkout data/mnist`"
        if not path.is_file():
            raise InputError(f"{path}: missing from the MNIST shipped with the project; {restore}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected:
            raise InputError(f"{path}: damaged or changed (its SHA-256 is not the original file's); {restore}")


def load_path(path):
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file():
        return load_npz(path)
    raise InputError(f"{path}: no such file or folder")


def load_npz(path):
    """Read the four arrays of a Keras-layout mnist.npz."""
    try:
        if not zipfile.is_zipfile(path):  # else NumPy takes any other file for a pickle, and says so
            raise InputError(f"{path}: not a readable .npz file (not a zip archive, as .npz files are; "
                             "--data takes an MNIST .npz or a folder of the IDX files)")
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in IDX_FILES if key not in archive.files]
            if missing:
                raise InputError(
                    f"{path}: missing array(s) {', '.join(missing)} "
                    f"(an MNIST .npz holds {', '.join(IDX_FILES)})"
                )
            return {key: archive[key] for key in IDX_FILES}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: not a readable .npz file ({error})") from None


def load_idx_folder(folder):
    """Read the four MNIST IDX files of a folder, each plain or gzipped."""
    arrays = {}
    for key, name in IDX_FILES.items():
        candidates = [folder / name, folder / f"{name}.gz"]
        found = next((file for file in candidates if file.is_file()), None)
        if found is None:
            raise InputError(
                f"{folder}: no {name} or {name}.gz here "
                "(--data takes a folder of the four MNIST IDX files or an .npz file)"
            )
        arrays[key] = read_idx(found)
    return arrays


def read_idx(path):
    """Read one IDX file of unsigned bytes (the format MNIST is published in), checking its header."""
    raw = read_bytes(path)
    if len(raw) < 4:
        raise InputError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, dtype, ndim = int.from_bytes(raw[0:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype != IDX_UNSIGNED_BYTE or ndim < 1:
        raise InputError(f"{path}: not an IDX file of unsigned bytes (magic number 0x{raw[:4].hex()})")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise InputError(f"{path}: header cut short ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise InputError(
            f"{path}: header says {shape[0]:,} items of shape {shape[1:]} ({expected:,} bytes) "
            f"but the file holds {len(raw):,} bytes"
            + (": truncated?" if len(raw) < expected else "")
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def read_bytes(path):
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(f"{path}: cannot read it ({error})") from None


def load_keras_cache():
    """keras.datasets.mnist.load_data(): the cached copy, or a download on a miss."""
    import keras  # imported here: the other sources need no TensorFlow

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # Keras wraps every download failure in a bare Exception
        raise InputError(
            f"MNIST is not in the Keras cache and could not be downloaded ({first_line(error)}): "
            "leave out --data keras to use the copy shipped in data/mnist/, or pass --data PATH"
        ) from None
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def check_split(images, labels, source):
    """Check one split: 28x28 uint8 images, integer labels 0-9, one label per image."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise InputError(
            f"{source}: images must be uint8 of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{source}: labels must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}")
    if len(images) != len(labels):
        raise InputError(f"{source}: {len(images):,} images but {len(labels):,} labels")
    if len(images) == 0:
        raise InputError(f"{source}: holds no images")
    outside = (labels < 0) | (labels >= NUM_CLASSES)
    if outside.any():
        raise InputError(
            f"{source}: {int(outside.sum()):,} label(s) outside 0-9, "
            f"the first is {labels[outside][0]} at index {int(np.argmax(outside))}"
        )
    return images, labels.astype(np.uint8)


def to_inputs(images):
    """uint8 images (N, 28, 28) -> float32 in [0, 1] of shape (N, 28, 28, 1), as the report feeds them."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def to_one_hot(labels):
    """Digit labels (N,) -> one-hot float32 (N, 10), for categorical cross-entropy."""
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]
