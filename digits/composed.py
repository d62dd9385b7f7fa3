"""Handwritten numbers composed from single digit images, with each digit's true box: what the number
reader's cut verifier learns from (MNIST's training digits), what its settings are chosen on (the
validation slice) and what bench/read_numbers.py measures it on (the test digits).

Spacing is measured on ink, not on 28x28 tiles: "separated" leaves a gap between the digits' boxes,
"touching" slides each digit left until its ink meets its neighbour's (8-connected), "overlapping" slides
it a little further. Each digit is scaled by its own factor, set on its own baseline, the stroke of the
whole number thinned or thickened, and the number sloped a little.
"""

from dataclasses import dataclass
import io

import numpy as np
from PIL import Image
from scipy import ndimage

SPACINGS = ("separated", "touching", "overlapping")
RENDERINGS = ("scan", "photo")
PIXELS = 2  # composed pixels per MNIST pixel: digits about 40 pixels tall
INK = 100  # grey level above which a pixel counts as ink when spacing


@dataclass
class Composed:
    """A composed number: bright ink on black (uint8), its digits' labels and boxes (left, top, right, bottom)."""

    image: np.ndarray
    text: str
    boxes: list


def cropped(digit):
    """A digit image cropped to its ink."""
    rows, columns = np.nonzero(digit > 20)
    return digit[rows.min():rows.max() + 1, columns.min():columns.max() + 1]


def compose(digits, labels, spacing, rng, size_jitter=0.15, baseline_jitter=2.0, slope=4.0):
    """Digit images (each 2-D uint8, bright ink on black) side by side as one number, `spacing` one of SPACINGS."""
    placed = []
    stroke = rng.choice(["thin", "as written", "thick"])
    for digit in digits:
        digit = cropped(digit)
        factor = PIXELS * rng.uniform(1 - size_jitter, 1 + size_jitter)
        size = (max(1, round(digit.shape[1] * factor)), max(1, round(digit.shape[0] * factor)))
        resized = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.BILINEAR))
        placed.append(stroked(np.pad(resized, 1), stroke))
    margin = 12 * PIXELS
    height = max(image.shape[0] for image in placed) + 2 * margin
    width = sum(image.shape[1] for image in placed) + 20 * PIXELS * len(placed) + 2 * margin
    canvas = np.zeros((height, width), dtype=np.uint8)
    owner = np.zeros((height, width), dtype=np.int32)  # which digit each pixel's ink is from, 1-based
    right = margin
    for index, image in enumerate(placed):
        top = (height - image.shape[0]) // 2 + round(rng.uniform(-baseline_jitter, baseline_jitter) * PIXELS)
        left = right + (round(rng.uniform(2, 10) * PIXELS) if spacing == "separated" or index == 0 else 1)
        if spacing != "separated" and index > 0:
            left = touching_left(canvas > INK, image > INK, top, left)
            if spacing == "overlapping":
                left -= round(rng.uniform(1, 3) * PIXELS)
        region = (slice(top, top + image.shape[0]), slice(left, left + image.shape[1]))
        owner[region] = np.where(image > canvas[region], index + 1, owner[region])
        canvas[region] = np.maximum(canvas[region], image)
        right = max(right, left + image.shape[1])
    canvas, owner = canvas[:, :right + margin], owner[:, :right + margin]
    angle = rng.uniform(-slope, slope)
    canvas = ndimage.rotate(canvas, angle, reshape=True, order=1, cval=0)
    owner = ndimage.rotate(owner, angle, reshape=True, order=0, cval=0)
    boxes = [(box[1].start, box[0].start, box[1].stop, box[0].stop) for box in ndimage.find_objects(owner)]
    return Composed(canvas, "".join(str(int(label)) for label in labels), boxes)


def touching_left(canvas_ink, digit_ink, top, left):
    """The rightmost column at which `digit_ink`, placed at row `top`, touches the ink already in the canvas."""
    reach = ndimage.binary_dilation(canvas_ink, structure=np.ones((3, 3)))
    height, width = digit_ink.shape
    for column in range(left, max(0, left - 3 * width), -1):
        if (reach[top:top + height, column:column + width] & digit_ink).any():
            return column
    return left


def stroked(canvas, stroke):
    if stroke == "thin":
        return ndimage.grey_erosion(canvas, size=(2, 2))
    if stroke == "thick":
        return ndimage.grey_dilation(canvas, size=(2, 2))
    return canvas


def render(composed, rendering, rng):
    """A composed number as a person's image of it (PIL, greyscale): a "scan" is dark ink on white paper with
    a little noise; a "photo" is larger, unevenly lit, blurred, noisy and saved as JPEG, and now and then
    light ink on a dark ground."""
    ink = composed.image.astype(np.float64) / 255
    if rendering == "scan":
        paper = 255 - 215 * ink + rng.normal(0, 4, ink.shape)
        return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
    zoom = rng.uniform(1.5, 3)
    big = Image.fromarray(composed.image).resize((round(ink.shape[1] * zoom), round(ink.shape[0] * zoom)),
                                                 Image.Resampling.BICUBIC)
    ink = ndimage.gaussian_filter(np.asarray(big, dtype=np.float64) / 255, sigma=zoom / 2)
    rows, columns = np.mgrid[0:ink.shape[0], 0:ink.shape[1]]
    direction = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(direction) * columns / ink.shape[1] + np.sin(direction) * rows / ink.shape[0])
    paper = rng.uniform(170, 235) + rng.uniform(30, 70) * (ramp - ramp.mean())  # light falling off across the sheet
    pen = rng.uniform(20, 70)
    image = paper * (1 - ink) + pen * ink + rng.normal(0, 5, ink.shape)
    if rng.random() < 0.2:
        image = 255 - image
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue()))


def scale_box(box, composed, image):
    """A box in the composed image's pixels -> in the rendered image's."""
    factor = image.size[0] / composed.image.shape[1]
    return tuple(round(value * factor) for value in box)


def numbers(images, labels, count, lengths, spacing, rng):
    """`count` numbers composed from `images`, no image twice in a number. `lengths`: one length, or (shortest,
    longest) to draw from; `spacing`: one of SPACINGS, or several to draw from."""
    for _ in range(count):
        length = lengths if isinstance(lengths, int) else int(rng.integers(lengths[0], lengths[1] + 1))
        chosen = rng.choice(len(images), size=length, replace=False)
        this_spacing = spacing if isinstance(spacing, str) else str(rng.choice(spacing))
        yield compose([images[i] for i in chosen], labels[chosen], this_spacing, rng)


def ink_pieces(composed):
    """The count of 8-connected pieces of ink in a composed number: 1 for two digits that touch."""
    return ndimage.label(composed.image > INK, structure=np.ones((3, 3)))[1]
