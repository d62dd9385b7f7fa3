"""Loading MNIST, checking it, and turning it into what the network eats.

Sources, in this order: an explicit path (--data, or $MNIST_DATA), which is a
Keras-layout .npz or a folder of the four original IDX files (plain or .gz);
else keras.datasets.mnist.load_data(), which reads the Keras cache and downloads
on a miss. Whatever the source, the arrays are checked before anyone trains on
them, and any problem is an InputError naming the file.
"""

import gzip
from pathlib import Path
import zipfile
import zlib

import numpy as np
from PIL import Image, ImageOps

from digits.config import IMAGE_SIZE, NUM_CLASSES
from digits.errors import InputError, first_line

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
IDX_UNSIGNED_BYTE = 0x08


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


def load_path(path):
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file():
        return load_npz(path)
    raise InputError(f"{path}: no such file or folder")


def load_npz(path):
    """Read the four arrays of a Keras-layout mnist.npz."""
    try:
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


# A person's own digit images, brought into MNIST's format --------------------------------

INK_THRESHOLD = 0.25  # share of the strongest ink below which a pixel counts as paper (faint specks, shadows)
MIN_CONTRAST = 24  # grey levels between paper and the strongest ink, below which an image is blank
DIGIT_BOX = 20  # MNIST scaled each digit's longer side to 20 pixels...
# ...and centred it by its centre of mass in a 28x28 frame (LeCun, Cortes and Burges).


def to_mnist_format(image):
    """A PIL image of one handwritten digit, in any mode, size or polarity -> 28x28 uint8, as MNIST's.

    The steps MNIST's own digits went through: grayscale (transparency flattened onto a
    background that contrasts with the ink), inverted if the ink is darker than the
    paper, paper brought to 0 and the strongest ink to 255, cropped to the ink's bounding
    box (pixels fainter than INK_THRESHOLD of the strongest ink ignored), the longer side
    scaled to 20 pixels keeping the aspect ratio, and placed in a 28x28 frame with its
    centre of mass at the centre. Raises InputError for an image with no ink.
    """
    grey = grayscale(image)
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    paper = float(np.median(border))
    ink = (paper - grey) if paper > 127 else (grey - paper)  # bright ink on a dark ground, as MNIST
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise InputError("blank: no ink found (the image is one flat shade)")
    ink = np.clip(ink / strongest, 0, 1)
    rows, columns = np.nonzero(ink >= INK_THRESHOLD)
    ink = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1]
    ink[ink < INK_THRESHOLD / 2] = 0  # paper texture and noise around the strokes
    height, width = ink.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    digit = np.asarray(Image.fromarray(ink.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS))
    digit = np.clip(digit, 0, None)
    return centred_by_mass(digit / digit.max())  # resampling softens the strokes: strongest ink back to 255


def grayscale(image):
    """Any PIL image -> float array of grey levels 0-255, with transparency flattened."""
    image = ImageOps.exif_transpose(image)  # photos from phones are often stored sideways
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        return values * (255.0 / 65535.0) if values.max() > 255 else values
    if image.mode == "P" or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:] / 255.0
        grey = np.asarray(image.convert("RGB").convert("L"), dtype=np.float64)
        if alpha.min() < 1:  # the ink is what is opaque: put it on the shade that contrasts with it
            opaque = alpha[..., 0] > 0.5
            ink_shade = grey[opaque].mean() if opaque.any() else 0.0
            background = 255.0 if ink_shade < 128 else 0.0
            return grey * alpha[..., 0] + background * (1 - alpha[..., 0])
        return grey
    return np.asarray(image.convert("L"), dtype=np.float64)


def centred_by_mass(digit):
    """Place a digit (floats 0-1, at most 20x20) in a 28x28 uint8 frame, its centre of mass at the centre."""
    frame = np.zeros((IMAGE_SIZE, IMAGE_SIZE))
    height, width = digit.shape
    total = digit.sum()
    centre_row = (digit.sum(axis=1) @ np.arange(height)) / total
    centre_column = (digit.sum(axis=0) @ np.arange(width)) / total
    top = int(round(IMAGE_SIZE / 2 - 0.5 - centre_row))
    left = int(round(IMAGE_SIZE / 2 - 0.5 - centre_column))
    top = min(max(top, 0), IMAGE_SIZE - height)  # a lopsided digit stays whole inside the frame
    left = min(max(left, 0), IMAGE_SIZE - width)
    frame[top : top + height, left : left + width] = digit
    return np.round(frame * 255).astype(np.uint8)
