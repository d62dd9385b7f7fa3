"""A person's own digit images: read, converted to MNIST's format, and gathered from labelled folders.

Folders look like data/train/<digit>/*.png: the folder's name is the label. A file that
cannot be used (not an image, truncated, blank) is skipped with a one-line reason
naming it; the caller decides what to do when nothing usable remains.
"""

from dataclasses import dataclass, field
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from digits.data import to_mnist_format
from digits.errors import InputError, first_line


def read_digit_image(path):
    """One image file -> 28x28 uint8 in MNIST's format; InputError naming the file if it cannot be."""
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here, not later
            return to_mnist_format(image)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read") from None
    except InputError as error:
        raise InputError(f"{path}: {error}") from None
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


PHOTO_KINDS = ("grey", "rgb", "jpeg", "rgba", "palette", "16-bit", "light-on-dark")


def simulate_photo(digit, kind):
    """A 28x28 MNIST-style digit (bright ink on black) as a person might save it: dark ink on white
    paper, a few hundred pixels wide, off-centre with wide margins, in one of PHOTO_KINDS.

    For checking to_mnist_format: the tests and bench/photographed_digits.py use it.
    """
    ink = Image.fromarray(digit).resize((224, 224), Image.Resampling.BICUBIC)
    paper = Image.new("L", (420, 330), 255)
    paper.paste(Image.eval(ink, lambda value: 255 - value), (150, 60))
    if kind == "grey":
        return paper
    if kind == "rgb":
        return Image.merge("RGB", [paper, paper, Image.eval(paper, lambda v: min(255, v + 10))])  # bluish pen
    if kind == "jpeg":
        buffer = io.BytesIO()
        paper.convert("RGB").save(buffer, format="JPEG", quality=70)
        return Image.open(io.BytesIO(buffer.getvalue()))
    if kind == "rgba":  # black strokes on a transparent background, as drawing apps export
        alpha = Image.new("L", paper.size, 0)
        alpha.paste(ink, (150, 60))
        black = Image.new("L", paper.size, 0)
        return Image.merge("RGBA", [black, black, black, alpha])
    if kind == "palette":
        return paper.convert("P")
    if kind == "16-bit":
        image = Image.fromarray(np.asarray(paper, dtype=np.uint16) * 257)
        assert image.mode.startswith("I;16")
        return image
    if kind == "light-on-dark":
        return Image.eval(paper, lambda value: 255 - value)
    raise ValueError(kind)
