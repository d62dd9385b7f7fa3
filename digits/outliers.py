"""Images that are not digits, made by the project itself, to choose and check a "not a digit" score.

Each kind is drawn MNIST-style (28x28, uint8, light ink on black) from a seed, so that a
choice can be made on some seeds and checked on others. Some kinds are made from digits
(a digit's half, two digits blended, a digit turned over or inverted); they take the digits to
start from, and never use two of the same label together, since a 1 over a 7 still reads as a 7.
Letters are drawn in Pillow's bundled font, leaving out those that look like digits (O, I, l,
S, Z, B, g, q, ...).
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from digits.config import IMAGE_SIZE

# Letters that do not look like a digit (no O/0, I/l/1, S/5, Z/2, B/8, G/6, g/q/9, T/7, A/4).
LETTERS = "CEFHKLMNPRUVWXYacefhkmnprtuvwxy"
PEN_WIDTHS = (2, 3)  # pixels at 28x28, as wide as MNIST's strokes


def uniform_noise(rng, count):
    return rng.integers(0, 256, (count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)


def blobs(rng, count):
    """Smoothed noise (Hein et al. 2019): random pale and dark patches, no strokes."""
    images = rng.random((count, IMAGE_SIZE, IMAGE_SIZE))
    for index, sigma in enumerate(rng.uniform(1.0, 2.5, count)):
        images[index] = ndimage.gaussian_filter(images[index], sigma)
    return to_uint8(stretched(images))


def strokes(rng, count):
    """One to four random curves of a pen's width: scribbles."""
    def draw(pen):
        for _ in range(rng.integers(1, 5)):
            points = rng.uniform(4, IMAGE_SIZE - 4, (4, 2))
            pen.line([tuple(point) for point in bezier(points)], fill=255, width=int(rng.choice(PEN_WIDTHS)),
                     joint="curve")
    return drawn(count, draw)


def shapes(rng, count):
    """Filled discs, boxes and triangles, one to three of them."""
    def draw(pen):
        for _ in range(rng.integers(1, 4)):
            x, y = rng.uniform(2, IMAGE_SIZE - 2, 2)
            size = rng.uniform(3, 7)
            box = [x - size, y - size, x + size, y + size]
            kind = rng.integers(3)
            if kind == 0:
                pen.ellipse(box, fill=255)
            elif kind == 1:
                pen.rectangle(box, fill=255)
            else:
                pen.polygon([(x, y - size), (x - size, y + size), (x + size, y + size)], fill=255)
    return drawn(count, draw)


def letters(rng, count):
    """A letter that does not look like a digit, in Pillow's bundled font, size and place varied."""
    def draw(pen):
        font = ImageFont.load_default(size=int(rng.integers(16, 24)))
        letter = LETTERS[rng.integers(len(LETTERS))]
        pen.text((IMAGE_SIZE / 2 + rng.uniform(-2, 2), IMAGE_SIZE / 2 + rng.uniform(-2, 2)), letter,
                 fill=255, font=font, anchor="mm")
    return drawn(count, draw)


def halves(rng, count, digits, labels):
    """The left, right, top or bottom half of a digit, moved to the middle."""
    images = digits[rng.integers(len(digits), size=count)].copy()
    half = IMAGE_SIZE // 2
    for image, side in zip(images, rng.integers(4, size=count)):
        kept = [np.s_[:, :half], np.s_[:, half:], np.s_[:half, :], np.s_[half:, :]][side]
        cut = np.zeros_like(image)
        cut[kept] = image[kept]
        image[:] = centred(cut)
    return images


def blends(rng, count, digits, labels):
    """Two digits of different labels, one over the other (the brighter pixel of the two)."""
    first, second = pairs_of_different_labels(rng, count, labels)
    return np.maximum(digits[first], digits[second])


def side_by_side(rng, count, digits, labels):
    """Two digits of different labels squeezed side by side into one frame: a number, not a digit."""
    first, second = pairs_of_different_labels(rng, count, labels)
    images = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    half = IMAGE_SIZE // 2
    for image, left, right in zip(images, digits[first], digits[second]):
        image[:, :half] = np.asarray(Image.fromarray(left).resize((half, IMAGE_SIZE), Image.Resampling.BILINEAR))
        image[:, half:] = np.asarray(Image.fromarray(right).resize((half, IMAGE_SIZE), Image.Resampling.BILINEAR))
    return images


def inverted(rng, count, digits, labels):
    """A digit in dark ink on a light page, as a photo or a scan gives it, unconverted."""
    return 255 - digits[rng.integers(len(digits), size=count)]


KINDS = {  # name -> how to make `count` of them from a random generator (and, for some, digits)
    "uniform noise": uniform_noise,
    "blobs": blobs,
    "strokes": strokes,
    "shapes": shapes,
    "letters": letters,
    "digit halves": halves,
    "blended digits": blends,
    "two digits": side_by_side,
    "inverted digits": inverted,
}
FROM_DIGITS = ("digit halves", "blended digits", "two digits", "inverted digits")


def make(kind, count, seed, digits=None, labels=None):
    """`count` images of `kind` (a name in KINDS), the same for the same seed; the kinds in
    FROM_DIGITS are made from `digits` (uint8, N x 28 x 28) with their `labels`."""
    rng = np.random.default_rng(seed)
    if kind in FROM_DIGITS:
        if digits is None:
            raise ValueError(f"{kind} are made from digits: pass digits and labels")
        return KINDS[kind](rng, count, np.asarray(digits), np.asarray(labels))
    return KINDS[kind](rng, count)


def make_all(count, seed, digits, labels):
    """kind -> `count` images of it, each kind from its own seed derived from `seed`."""
    return {kind: make(kind, count, [seed, number], digits, labels) for number, kind in enumerate(KINDS)}


def drawn(count, draw):
    """`count` images, each drawn by draw(pen) at four times the size and scaled down,
    which smooths the edges as a scanned pen stroke is smooth."""
    scale = 4
    images = np.zeros((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for index in range(count):
        canvas = Image.new("L", (IMAGE_SIZE * scale, IMAGE_SIZE * scale))
        draw(ScaledPen(ImageDraw.Draw(canvas), scale))
        images[index] = np.asarray(canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX))
    return images


class ScaledPen:
    """An ImageDraw whose coordinates, widths and font sizes are given at 28x28."""

    def __init__(self, pen, scale):
        self.pen, self.scale = pen, scale

    def scaled(self, points):
        return [(x * self.scale, y * self.scale) for x, y in points]

    def line(self, points, width, **options):
        self.pen.line(self.scaled(points), width=width * self.scale, **options)

    def ellipse(self, box, **options):
        self.pen.ellipse([value * self.scale for value in box], **options)

    def rectangle(self, box, **options):
        self.pen.rectangle([value * self.scale for value in box], **options)

    def polygon(self, points, **options):
        self.pen.polygon(self.scaled(points), **options)

    def text(self, point, text, font, **options):
        big = font.font_variant(size=font.size * self.scale)
        self.pen.text(self.scaled([point])[0], text, font=big, **options)


def bezier(points, steps=24):
    """The cubic Bézier curve through four control points, as `steps` points."""
    t = np.linspace(0, 1, steps)[:, None]
    p0, p1, p2, p3 = points
    return (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t ** 2 * p2 + t ** 3 * p3


def pairs_of_different_labels(rng, count, labels):
    first = rng.integers(len(labels), size=count)
    second = rng.integers(len(labels), size=count)
    same = labels[first] == labels[second]
    while same.any():
        second[same] = rng.integers(len(labels), size=same.sum())
        same = labels[first] == labels[second]
    return first, second


def centred(image):
    """The image moved so that its ink's centre of mass is the frame's centre, as MNIST's digits are."""
    if not image.any():
        return image
    row, column = ndimage.center_of_mass(image.astype(float))
    middle = (IMAGE_SIZE - 1) / 2
    return ndimage.shift(image, (middle - row, middle - column), order=0)


def stretched(images):
    """Each image's values spread over [0, 1]."""
    low = images.min(axis=(1, 2), keepdims=True)
    high = images.max(axis=(1, 2), keepdims=True)
    return (images - low) / np.maximum(high - low, 1e-12)


def to_uint8(images):
    return np.clip(np.round(images * 255), 0, 255).astype(np.uint8)
