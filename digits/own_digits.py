"""A person's own digit images: read, converted to MNIST's format, and gathered from labelled folders.

Folders look like data/train/<digit>/*.png: the folder's name is the label. A file that cannot be
used (not an image, truncated, blank) is skipped with a one-line reason naming it.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from digits.config import IMAGE_SIZE
from digits.errors import InputError, first_line

INK_THRESHOLD = 0.25  # share of the strongest ink below which a pixel counts as paper (faint specks, shadows)
MIN_CONTRAST = 24  # grey levels between paper and the strongest ink, below which an image is blank
MAX_IMAGE_SIDE = 10_000  # pixels: a phone's photo is about 4,000; more is not a photo of handwriting
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
    return ink_to_mnist(np.clip(ink / strongest, 0, 1))


def ink_to_mnist(ink):
    """Ink (floats, paper 0, strongest stroke 1) of one digit -> 28x28 uint8 in MNIST's format: cropped to
    the ink's box, the longer side scaled to DIGIT_BOX pixels and centred by mass in a 28x28 frame."""
    rows, columns = np.nonzero(ink >= INK_THRESHOLD)
    ink = ink[rows.min() : rows.max() + 1, columns.min() : columns.max() + 1].copy()
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


def read_digit_image(path):
    """One image file -> 28x28 uint8 in MNIST's format; InputError naming the file if it cannot be."""
    image = open_image(path, "add_own_digits.py train reads folders of digits")
    try:
        return to_mnist_format(image)
    except InputError as error:
        raise InputError(f"{path}: {error}") from None


def open_image(path, folder_hint=""):
    """One image file, decoded -> PIL image; InputError naming the file if it cannot be read, or if a side is
    longer than MAX_IMAGE_SIDE (checked from its header, before its pixels are decoded)."""
    if Path(path).is_dir():
        raise InputError(f"{path}: a folder, not an image file" + (f" ({folder_hint})" if folder_hint else ""))
    try:
        with Image.open(path) as image:
            if max(image.size) > MAX_IMAGE_SIDE:
                width, height = image.size
                raise InputError(f"{path}: {width}x{height} pixels, larger than the {MAX_IMAGE_SIDE} pixels a side "
                                 "read here; scale it down first")
            image.load()  # decode now: a truncated file fails here, not later
            return image
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: more than {Image.MAX_IMAGE_PIXELS:,} pixels, larger than an image read here; "
                         "scale it down first") from None
    except (OSError, ValueError, SyntaxError) as error:  # Pillow's ways of saying "damaged"
        raise InputError(f"{path}: damaged or truncated image ({first_line(error)})") from None


@dataclass
class DigitFolder:
    """The usable images of a folder tree, and the reasons for every file or folder skipped."""

    images: np.ndarray
    labels: np.ndarray
    paths: list
    skipped: list = field(default_factory=list)

    def counts(self):
        return {digit: int((self.labels == digit).sum()) for digit in range(10)}


def digit_files(folder):
    """The files of one digit's folder that are read: every file but hidden ones (temporary writes)."""
    return sorted(path for path in folder.iterdir() if path.is_file() and not path.name.startswith("."))


def read_digit_folders(root):
    """Read root/<digit>/<image> for digits 0-9; never raises for a bad file or folder, only skips it."""
    root = Path(root)
    images, labels, paths, skipped = [], [], [], []
    if not root.is_dir():
        skipped.append(f"{root}: no such folder")
        return DigitFolder(np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), [], skipped)
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if folder.name not in {str(digit) for digit in range(10)}:
            skipped.append(f"{folder}: folder name is not a digit 0-9")
            continue
        files = digit_files(folder)
        if not files:
            skipped.append(f"{folder}: empty folder")
        for path in files:
            try:
                images.append(read_digit_image(path))
            except InputError as error:
                skipped.append(str(error))
                continue
            labels.append(int(folder.name))
            paths.append(path)
    images = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    return DigitFolder(images, np.array(labels, dtype=np.uint8), paths, skipped)


def thumbnail(path, size=96):
    """The image as the person gave it, small and in RGB (transparency on white), for figures."""
    with Image.open(path) as image:
        image = image.convert("RGBA")
        flat = Image.new("RGBA", image.size, "white")
        flat.alpha_composite(image)
        flat.thumbnail((size, size))
        return np.asarray(flat.convert("RGB"))
