"""Simulated photos of MNIST digits, for checking that a person's images are brought back to
MNIST's format: used by the tests and bench/photographed_digits.py, never by the toolkit itself.
"""

import io

import numpy as np
from PIL import Image

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
