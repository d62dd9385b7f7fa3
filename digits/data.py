"""Loading MNIST, checking it, and turning it into what the network eats.

Sources, in this order: an explicit path (--data, or $MNIST_DATA), which is a
Keras-layout .npz or a folder of the four original IDX files (plain or .gz);
else keras.datasets.mnist.load_data(), which reads the Keras cache and downloads
on a miss. Whatever the source, the arrays are checked before anyone trains on
them, and any problem is an InputError naming the file.
"""

from dataclasses import dataclass, replace
import gzip
import hashlib
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
ZIP_SIGNATURE = b"PK\x03\x04"  # .npz files are zip archives
KERAS_CACHE = "keras cache (keras.datasets.mnist)"


def load_mnist(path=None, limit=None):
    """Return MNIST as uint8 arrays ((x_train, y_train), (x_test, y_test)).

    path: a .npz file, a folder of IDX files, or None for the Keras cache.
    limit: keep only the first `limit` training images (the test set stays whole).
    """
    arrays = load_keras_cache() if path is None else load_path(Path(path))
    source = "the Keras cache" if path is None else str(path)
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

    def summary(self):
        """What a run was trained and tested on, for its record, with a fingerprint of the training set."""
        fingerprint = hashlib.sha256(self.train_images.tobytes() + self.train_labels.tobytes()).hexdigest()
        return {
            "source": self.source,
            "train_images": len(self.train_images),
            "test_images": len(self.test_images),
            "train_sha256": fingerprint,
        }

    def with_extra_training(self, images, labels):
        """The same data with more training images appended (a person's own digits)."""
        return replace(self, train_images=np.concatenate([self.train_images, images]),
                       train_labels=np.concatenate([self.train_labels, labels]))


def load_dataset(path=None, limit=None):
    """load_mnist's arrays as a Dataset; path None is the Keras cache."""
    (x_train, y_train), (x_test, y_test) = load_mnist(path, limit)
    return Dataset(x_train, y_train, x_test, y_test, source=str(path) if path else KERAS_CACHE)


def load_path(path):
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file():
        return load_npz(path)
    raise InputError(f"{path}: no such file or folder")


def load_npz(path):
    """Read the four arrays of a Keras-layout mnist.npz."""
    try:
        with open(path, "rb") as file:
            if file.read(4) != ZIP_SIGNATURE:  # else NumPy takes any other file for a pickle, and says so
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
            "pass --data PATH (an mnist.npz or a folder of the IDX files) or set MNIST_DATA"
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
