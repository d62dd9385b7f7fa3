"""to_mnist_format: a person's digit, photographed or drawn, brought back to MNIST's 28x28 format."""

import numpy as np
from PIL import Image
import pytest

from conftest import sklearn_digits_as_mnist
from digits.own_digits import to_mnist_format
from harness.photos import PHOTO_KINDS, simulate_photo as photograph
from digits.errors import InputError


def correlation(a, b):
    return float(np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1])


@pytest.fixture(scope="module")
def originals():
    images, labels = sklearn_digits_as_mnist()
    return images[:40]


@pytest.mark.parametrize("kind", PHOTO_KINDS)
def test_photographed_digits_come_back_close_to_the_original(originals, kind):
    scores = []
    for original in originals:
        converted = to_mnist_format(photograph(original, kind))
        assert converted.shape == (28, 28) and converted.dtype == np.uint8
        assert converted.max() == 255 and converted[0].max() == 0  # full-strength ink, empty margins
        scores.append(correlation(converted, to_mnist_format(Image.fromarray(original))))
    assert np.mean(scores) > 0.95 and min(scores) > 0.85, f"{kind}: mean {np.mean(scores):.3f}, worst {min(scores):.3f}"


def test_the_digit_is_20_pixels_at_most_and_centred_by_mass(originals):
    converted = to_mnist_format(photograph(originals[0], "grey")).astype(float)
    rows, columns = np.nonzero(converted)
    assert max(rows.max() - rows.min(), columns.max() - columns.min()) + 1 <= 20
    centre = [(converted.sum(axis=axis) @ np.arange(28)) / converted.sum() for axis in (1, 0)]
    assert np.allclose(centre, 13.5, atol=0.6)


def test_a_thin_wide_digit_keeps_its_aspect_ratio():
    stroke = np.full((60, 400), 255, np.uint8)
    stroke[20:40, 50:350] = 0  # a dash 300 wide and 20 high
    converted = to_mnist_format(Image.fromarray(stroke))
    rows, columns = np.nonzero(converted > 64)
    assert columns.max() - columns.min() + 1 == 20 and rows.max() - rows.min() + 1 <= 3


def test_faint_specks_do_not_stretch_the_crop(originals):
    photo = np.asarray(photograph(originals[0], "grey")).copy()
    photo[5, 5] = photo[320, 410] = 200  # light grey dust in the corners of white paper
    assert correlation(to_mnist_format(Image.fromarray(photo)), to_mnist_format(photograph(originals[0], "grey"))) > 0.99


@pytest.mark.parametrize("image", [Image.new("L", (50, 50), 255), Image.new("RGBA", (50, 50), (0, 0, 0, 0)),
                                   Image.new("RGB", (64, 32), (120, 130, 140))])
def test_a_blank_image_is_refused(image):
    with pytest.raises(InputError, match="blank: no ink found"):
        to_mnist_format(image)
