"""Reading a whole handwritten number in one image: its ink found, cut into digits, read left to right.

The way of LeCun, Bottou, Bengio and Haffner's check reader (1998, heuristic over-segmentation):
1. Ink: the paper's shade is estimated around every pixel (a grey closing wider than a stroke), so
   uneven light and either polarity drop out; Otsu's threshold separates ink from paper.
2. Pieces: connected ink (8-connected), specks dropped, brought to a common digit height.
3. Cuts: a piece wider than a narrow digit is cut by seams, paths of least ink from top to bottom,
   into more parts than it can hold digits.
4. Candidates: each run of consecutive parts no wider than a digit may be one digit; all are brought
   to MNIST's format and read in one batch.
5. Best path: dynamic programming takes the grouping of the parts into digits whose readings cost
   least: -log p of the digit read, plus -log of a cut verifier's probability that the candidate is
   one whole digit (digits.cut_verifier), less a credit per digit.
Pieces much smaller than the digits are joined to the digit above or below them (the bar of a 5), or
where they stand alone (a comma, a point, a dash) left out of the number.
"""

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from digits.errors import InputError
from digits.own_digits import INK_THRESHOLD, MIN_CONTRAST, grayscale, ink_to_mnist

WORK_HEIGHT = 40  # pixels a digit's height is brought to before cutting
MAX_SIDE = 2000  # pixels: a larger image is shrunk to this before its ink is looked for
PAPER_WINDOW = 0.2  # of the image's longer side: wider than a stroke, narrower than a shadow
MIN_INK = INK_THRESHOLD  # of the strongest ink: the least a pixel above Otsu's threshold must have to be ink
SPECK = 0.02  # of the largest piece's area: smaller pieces are dust
TALL = 0.4  # of the tallest piece: pieces at least this tall give the digits' height
SHORT, SMALL = 0.35, 0.5  # of the digits' height: pieces shorter, or smaller both ways, are no digits (, . -)
MARK = 8  # pixels at WORK_HEIGHT: a smaller piece standing alone is a speck, not a mark worth naming
MAX_PIECES = 24  # pieces of digit height in one number; more is text, not a number
CUT_FROM = 0.55  # of the digits' height: a piece at least this wide may hold several digits
CUT_STEP = 4  # pixels at WORK_HEIGHT between candidate cuts
CUT_MARGIN = 3  # pixels at WORK_HEIGHT a cut keeps from a piece's sides
SEAM_BAND = 6  # pixels at WORK_HEIGHT a seam may wander from its column
MAX_WIDTH = 1.3  # of the digits' height: no digit is wider
MAX_PARTS = 12  # parts one digit may be made of
# A candidate's cost is -log p of its digit plus VERIFIER_WEIGHT times -log P(one whole digit); both add
# up along a path, so each digit read earns DIGIT_CREDIT back. Chosen on numbers composed from MNIST's
# validation slice (docs/numbers.md).
VERIFIER_WEIGHT = 0.75
DIGIT_CREDIT = 1.0
VERIFIER_FILE = Path(__file__).with_name("cut_verifier.npz")  # made by python -m digits.cut_verifier


@dataclass
class Digit:
    """One digit read: its box in the image (left, top, right, bottom, in the image's pixels), what the
    network received (28x28 uint8) and its ten probabilities."""

    box: tuple
    pixels: np.ndarray
    probabilities: np.ndarray

    @property
    def digit(self):
        return int(np.argmax(self.probabilities))

    @property
    def probability(self):
        return float(np.max(self.probabilities))


@dataclass
class Number:
    """A number read: its digits left to right, and the boxes of the pieces left out as too small to be one."""

    digits: list
    left_out: list = field(default_factory=list)

    @property
    def text(self):
        return "".join(str(digit.digit) for digit in self.digits)


def read_number(image, probabilities_of):
    """A PIL image of one handwritten number -> Number (find_line, then read_line)."""
    return read_line(find_line(image), probabilities_of)


def find_line(image):
    """A PIL image of one handwritten number -> its Line of ink, cut into parts. InputError for an image with
    no ink, or with more than one line of writing or more pieces than a number has."""
    grey = grayscale(image)
    shrink = min(1.0, MAX_SIDE / max(grey.shape))
    if shrink < 1:  # a photo's millions of pixels say no more about a number than a couple of thousand a side
        size = (max(1, round(grey.shape[1] * shrink)), max(1, round(grey.shape[0] * shrink)))
        grey = np.asarray(Image.fromarray(grey.astype(np.float32), mode="F").resize(size, Image.Resampling.BOX))
    return Line.of(ink_map(grey), shrink)


def read_line(line, probabilities_of):
    """The Number a Line holds. `probabilities_of` reads a batch of MNIST-format inputs (N, 28, 28, 1 in
    [0, 1]) -> (N, 10): every candidate digit is read in one batch."""
    from digits.data import to_inputs

    candidates, pixels, geometry = line.candidate_views()
    probabilities = probabilities_of(to_inputs(pixels))
    costs = candidate_costs(probabilities, whole_digit_probabilities(pixels, geometry))
    path = best_path(len(line.parts), candidates, costs)
    digits = [Digit(line.box_of(*candidates[i]), pixels[i], probabilities[i]) for i in path]
    return Number(digits, [line.to_image(box) for box in line.left_out])


def candidate_costs(probabilities, whole):
    """What reading each candidate as one digit costs: -log p of the digit read, and VERIFIER_WEIGHT times -log
    of the cut verifier's probability `whole` that it is one whole digit, less the credit every digit earns."""
    return (-np.log(np.maximum(probabilities.max(axis=1), 1e-12))
            - VERIFIER_WEIGHT * np.log(np.maximum(whole, 1e-12)) - DIGIT_CREDIT)


@cache
def verifier_weights():
    with np.load(VERIFIER_FILE) as saved:
        return {name: saved[name] for name in saved.files}


def whole_digit_probabilities(pixels, geometry, weights=None):
    """The cut verifier's probability that each candidate (its 28x28 uint8 pixels and its geometry,
    Line.geometry) is one whole digit, not a part of one or parts of two: the small network that
    digits.cut_verifier fits with Keras, read here with NumPy so that reading needs no TensorFlow."""
    w = verifier_weights() if weights is None else weights
    x = pixels[..., None].astype(np.float32) / 255.0
    for conv in ("conv1", "conv2"):
        x = np.maximum(convolved(x, w[f"{conv}_kernel"]) + w[f"{conv}_bias"], 0)
        x = max_pooled(x)
    g = (np.asarray(geometry, dtype=np.float32) - w["geometry_mean"]) / w["geometry_scale"]
    h = np.maximum(np.hstack([x.reshape(len(x), -1), g]) @ w["dense_kernel"] + w["dense_bias"], 0)
    logits = (h @ w["out_kernel"] + w["out_bias"]).ravel()
    return 1 / (1 + np.exp(-np.clip(logits, -50, 50)))


def convolved(x, kernel):
    """A 'valid' 2-D convolution of (N, H, W, C) by a Keras kernel (k, k, C, F)."""
    size = kernel.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))  # (N, H', W', C, k, k)
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel, optimize=True)


def max_pooled(x):
    """2x2 max pooling of (N, H, W, C), odd edges dropped, as Keras's MaxPooling2D."""
    n, height, width, channels = x.shape
    x = x[:, :height // 2 * 2, :width // 2 * 2]
    return x.reshape(n, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


def ink_map(grey):
    """Grey levels (H, W) -> ink (H, W) in [0, 1]: 0 on paper, 1 for the strongest stroke, whichever the
    polarity and however uneven the light. InputError when there is no ink."""
    paper = float(np.median(grey))
    darkest, lightest = np.percentile(grey, [0.5, 99.5])
    dark_ink = paper - darkest >= lightest - paper  # the ink is what lies far from the paper's shade
    shade = local_paper(grey if dark_ink else 255 - grey)
    ink = np.clip(shade - (grey if dark_ink else 255 - grey), 0, None)
    strongest = float(np.percentile(ink, 99.9)) if ink.size > 1000 else float(ink.max())
    if max(strongest, float(ink.max())) < MIN_CONTRAST:
        raise InputError("no ink found (the image is one flat shade)")
    return np.clip(ink / max(strongest, MIN_CONTRAST), 0, 1)


def local_paper(grey):
    """The paper's shade around each pixel of dark ink on light paper: a grey closing (the lightest shade
    nearby, then the darkest of those) wider than a stroke, computed small and smoothed."""
    window = max(3, round(PAPER_WINDOW * max(grey.shape)))
    step = max(1, window // 12)
    small = ndimage.maximum_filter(grey, size=step)[::step, ::step]
    size = max(3, window // step)
    shade = ndimage.grey_closing(small, size=(size, size))
    shade = ndimage.uniform_filter(shade, size=max(3, size // 2))
    rows = np.minimum(np.arange(grey.shape[0]) // step, shade.shape[0] - 1)
    columns = np.minimum(np.arange(grey.shape[1]) // step, shade.shape[1] - 1)
    return np.maximum(shade[np.ix_(rows, columns)], grey)  # never darker than the pixel itself


def otsu_threshold(values):
    """Otsu's threshold (1979) of values in [0, 1]: the cut that best separates two classes."""
    counts, edges = np.histogram(values, bins=256, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    total_weight, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight / total_weight - mass) ** 2 / (weight * (total_weight - weight))
    between = np.nan_to_num(between[:-1], nan=-1.0)
    return float(edges[np.argmax(between) + 1]) if between.max() > 0 else 0.5  # one shade only: halfway


def pieces_of(binary):
    """Connected ink -> (labels, boxes as slices, areas), 8-connected so a thin diagonal stroke stays whole."""
    labels, count = ndimage.label(binary, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return labels, ndimage.find_objects(labels), areas


def digit_height(boxes, areas):
    """The digits' height: the median height of the pieces that are not specks and are at least TALL of the tallest."""
    heights = np.array([box[0].stop - box[0].start for box in boxes])
    real = areas >= SPECK * areas.max()
    tall = real & (heights >= TALL * heights[real].max())
    return float(np.median(heights[tall])), real


def check_one_line(boxes, height):
    """InputError when pieces of the digits' height lie in more than one line, or are too many for a number."""
    tall = sorted((box[0].start, box[0].stop) for box in boxes if box[0].stop - box[0].start >= SMALL * height)
    lines, bottom = 0, -1
    for top, end in tall:
        if top >= bottom:  # starts below every piece so far: a new line
            lines += 1
        bottom = max(bottom, end) if top < bottom else end
    if lines > 1:
        raise InputError(f"{lines} lines of writing found; a number is read from one line")
    if len(tall) > MAX_PIECES:
        raise InputError(f"{len(tall)} pieces of ink found, more than a number of up to {MAX_PIECES} digits has "
                         "(a page of text?)")


@dataclass
class Line:
    """One line of ink at WORK_HEIGHT: its ink, its parts (each part a label in `parts_image`, left to
    right), and how its pixels map back to the image's."""

    ink: np.ndarray  # (h, w) floats in [0, 1]
    threshold: float  # the ink at or above which a pixel is ink, not paper
    parts_image: np.ndarray  # (h, w) ints: 0 paper, k for part k - 1
    parts: list  # per part: (top, left, bottom, right, piece it was cut from)
    left_out: list  # boxes (top, left, bottom, right) of the pieces too small to be digits
    scale: float  # work pixels per image pixel
    origin: tuple  # (row, column) in the image's pixels of the work image's corner
    cut_ink: list  # per boundary between parts k - 1 and k (0 and len(parts) included): pixels a seam cut there

    @classmethod
    def of(cls, ink, shrink=1.0):
        """The Line of an ink map (ink_map) of an image shrunk by `shrink`: its pieces found, checked to be one
        line of a number, brought to WORK_HEIGHT and cut (Line.cut). InputError where there is none."""
        threshold = max(otsu_threshold(ink[ink > 0.02]) if (ink > 0.02).sum() > 10 else MIN_INK, MIN_INK)
        labels, boxes, areas = pieces_of(ink >= threshold)
        if not boxes:
            raise InputError("no ink found")
        height, real = digit_height(boxes, areas)
        check_one_line([box for box, keep in zip(boxes, real) if keep], height)
        kept = np.flatnonzero(real) + 1
        rows, columns = np.nonzero(np.isin(labels, kept))
        margin = max(2, round(0.1 * height))
        top, left = max(0, rows.min() - margin), max(0, columns.min() - margin)
        bottom, right = min(ink.shape[0], rows.max() + margin + 1), min(ink.shape[1], columns.max() + margin + 1)
        crop = np.where(np.isin(labels, kept), ink, 0)[top:bottom, left:right]
        crop = np.where(ndimage.binary_dilation(crop > 0, iterations=2), ink[top:bottom, left:right], 0)
        scale = WORK_HEIGHT / height
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        work = np.clip(np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)), 0, 1)
        return cls.cut(work, threshold, scale * shrink, (top / shrink, left / shrink))

    @classmethod
    def cut(cls, work, threshold, scale, origin):
        """The work image's pieces, small ones left out, wide ones cut by seams into parts."""
        labels, left_out = joined_fragments(*pieces_of(work >= threshold))
        boxes = ndimage.find_objects(labels)
        parts_image = np.zeros(work.shape, dtype=np.int32)
        parts = []
        order = sorted((i for i, box in enumerate(boxes) if box), key=lambda i: (boxes[i][1].start + boxes[i][1].stop) / 2)
        for piece in order:
            rows, columns = boxes[piece]
            mask = labels[boxes[piece]] == piece + 1
            for part_mask in split_by_seams(mask, work[boxes[piece]] * mask):
                part_rows, part_columns = np.nonzero(part_mask)
                if not len(part_rows):
                    continue
                parts.append((rows.start + part_rows.min(), columns.start + part_columns.min(),
                              rows.start + part_rows.max() + 1, columns.start + part_columns.max() + 1, piece))
                parts_image[boxes[piece]][part_mask] = len(parts)
        if not parts:
            raise InputError("no ink of a digit's height found")
        return cls(work, threshold, parts_image, parts, left_out, scale, origin, cut_ink(parts_image, parts))

    def candidates(self):
        """(first, last) part indices, last excluded, of each run of parts that may be one digit."""
        result = []
        for first in range(len(self.parts)):
            for last in range(first + 1, min(first + MAX_PARTS, len(self.parts)) + 1):
                _, left, _, right = self.box_at(first, last)
                if right - left > MAX_WIDTH * WORK_HEIGHT and last > first + 1:
                    break
                result.append((first, last))
        return result

    def box_at(self, first, last):
        """The box (top, left, bottom, right) at WORK_HEIGHT of parts first..last-1."""
        chosen = self.parts[first:last]
        return (min(p[0] for p in chosen), min(p[1] for p in chosen), max(p[2] for p in chosen), max(p[3] for p in chosen))

    def ink_of(self, first, last):
        """The ink of parts first..last-1 alone, cropped to their box, with a pixel's margin of soft edges."""
        top, left, bottom, right = self.box_at(first, last)
        labels = self.parts_image[max(0, top - 1):bottom + 1, max(0, left - 1):right + 1]
        mask = (labels > first) & (labels <= last)
        mask = ndimage.binary_dilation(mask) & ((labels == 0) | mask)  # the strokes' soft edges, not a neighbour's
        return np.where(mask, self.ink[max(0, top - 1):bottom + 1, max(0, left - 1):right + 1], 0)

    def candidate_views(self):
        """Every candidate (first, last), what the networks read of it: its 28x28 pixels in MNIST's format
        (N, 28, 28) and its geometry (N, G) for the cut verifier."""
        candidates = self.candidates()
        pixels = np.stack([ink_to_mnist(self.ink_of(first, last)) for first, last in candidates])
        geometry = np.array([self.geometry(first, last) for first, last in candidates], dtype=np.float32)
        return candidates, pixels, geometry

    def geometry(self, first, last):
        """What the cut verifier reads of parts first..last-1 beside their pixels, in digit heights: width,
        height, widest gap, the ink cut on each side (0 at a piece's own edge), the count of parts, the width
        of the pieces they were cut from, and whether they are whole pieces."""
        top, left, bottom, right = self.box_at(first, last)
        pieces = {part[4] for part in self.parts[first:last]}
        of_pieces = [k for k, part in enumerate(self.parts) if part[4] in pieces]
        _, pieces_left, _, pieces_right = self.box_at(of_pieces[0], of_pieces[-1] + 1)
        whole_pieces = of_pieces == list(range(first, last))
        return [(right - left) / WORK_HEIGHT, (bottom - top) / WORK_HEIGHT, self.widest_gap(first, last) / WORK_HEIGHT,
                self.cut_ink[first] / WORK_HEIGHT, self.cut_ink[last] / WORK_HEIGHT, (last - first) / MAX_PARTS,
                (pieces_right - pieces_left) / WORK_HEIGHT, float(whole_pieces)]

    def widest_gap(self, first, last):
        """The widest run of columns without ink between parts first..last-1's left and right ends."""
        if last == first + 1:
            return 0
        top, left, bottom, right = self.box_at(first, last)
        labels = self.parts_image[top:bottom, left:right]
        inked = ((labels > first) & (labels <= last)).any(axis=0)
        runs, longest = 0, 0
        for column_inked in inked:
            runs = 0 if column_inked else runs + 1
            longest = max(longest, runs)
        return longest

    def box_of(self, first, last):
        """The box of parts first..last-1 in the image's pixels: (left, top, right, bottom)."""
        return self.to_image(self.box_at(first, last))

    def to_image(self, box):
        top, left, bottom, right = box
        row, column = self.origin
        return (int(column + left / self.scale), int(row + top / self.scale),
                int(np.ceil(column + right / self.scale)), int(np.ceil(row + bottom / self.scale)))


def joined_fragments(labels, boxes, areas):
    """Pieces too small to be digits (shorter than SHORT of a digit, or smaller than SMALL both ways) joined to
    the digit above or below them (the bar of a 5 or a 7 written apart), specks dropped -> (labels, boxes
    (top, left, bottom, right) of the small pieces that stand alone: a comma, a point, a dash)."""
    labels = labels.copy()
    tall = [i for i, (rows, columns) in enumerate(boxes) if rows.stop - rows.start >= SHORT * WORK_HEIGHT
            and max(rows.stop - rows.start, columns.stop - columns.start) >= SMALL * WORK_HEIGHT]
    left_out = []
    for i, (rows, columns) in enumerate(boxes):
        if i in tall:
            continue
        shared = [min(columns.stop, boxes[t][1].stop) - max(columns.start, boxes[t][1].start) for t in tall]
        best = int(np.argmax(shared)) if shared else None
        if best is not None and shared[best] >= 0.5 * (columns.stop - columns.start):
            labels[(rows, columns)][labels[(rows, columns)] == i + 1] = tall[best] + 1
        else:
            labels[(rows, columns)][labels[(rows, columns)] == i + 1] = 0
            if areas[i] >= MARK:
                left_out.append((rows.start, columns.start, rows.stop, columns.stop))
    return labels, left_out


def cut_ink(parts_image, parts):
    """Per boundary between neighbouring parts (the ends included, as 0): the pixels of part k touching part
    k - 1 where a seam cut one piece there, 0 where the parts are different pieces."""
    result = [0]
    for k in range(1, len(parts)):
        before, after = parts[k - 1], parts[k]
        if before[4] != after[4]:
            result.append(0)
            continue
        top, left = min(before[0], after[0]), min(before[1], after[1])
        bottom, right = max(before[2], after[2]), max(before[3], after[3])
        labels = parts_image[top:bottom, left:right]
        touching = ndimage.binary_dilation(labels == k, structure=np.ones((3, 3))) & (labels == k + 1)
        result.append(int(touching.sum()))
    return result + [0]


def split_by_seams(mask, ink):
    """A piece's mask -> the masks of its parts, left to right: the piece itself when it is narrower than
    CUT_FROM of a digit, else the parts between seams started every CUT_STEP columns."""
    width = mask.shape[1]
    if width < CUT_FROM * WORK_HEIGHT:
        return [mask]
    starts = range(CUT_MARGIN, width - CUT_MARGIN, CUT_STEP)
    seams = [seam(ink, start) for start in starts]
    if not seams:
        return [mask]
    seams = np.maximum.accumulate(np.array(seams), axis=0)  # seams never cross
    columns = np.arange(width)[None, :]
    part_of = sum((columns >= s[:, None]).astype(np.int32) for s in seams)
    return [mask & (part_of == k) for k in range(len(seams) + 1)]


def seam(ink, start):
    """The column, per row, of the path from top to bottom through least ink that starts within SEAM_BAND of
    `start` and moves at most one column a row (dynamic programming, as seam carving)."""
    height, width = ink.shape
    low, high = max(0, start - SEAM_BAND), min(width, start + SEAM_BAND + 1)
    band = ink[:, low:high] + 0.01 * np.abs(np.arange(low, high) - start)[None, :]  # straight when it costs nothing
    total = band.copy()
    moves = np.zeros(band.shape, dtype=np.int8)
    for row in range(1, height):
        previous = total[row - 1]
        options = np.stack([np.r_[np.inf, previous[:-1]], previous, np.r_[previous[1:], np.inf]])
        moves[row] = np.argmin(options, axis=0) - 1
        total[row] += options[moves[row] + 1, np.arange(len(previous))]
    path = np.empty(height, dtype=np.int64)
    path[-1] = int(np.argmin(total[-1]))
    for row in range(height - 1, 0, -1):
        path[row - 1] = path[row] + moves[row, path[row]]
    return path + low


def best_path(part_count, candidates, costs):
    """The candidates, by index, that cover parts 0..part_count-1 exactly once, in order, at least cost."""
    best = np.full(part_count + 1, np.inf)
    best[0] = 0.0
    came_from = [None] * (part_count + 1)
    for index in sorted(range(len(candidates)), key=lambda i: candidates[i]):
        first, last = candidates[index]
        if best[first] + costs[index] < best[last]:
            best[last] = best[first] + costs[index]
            came_from[last] = index
    path, at = [], part_count
    while at > 0:
        index = came_from[at]
        path.append(index)
        at = candidates[index][0]
    return path[::-1]
