"""Reading a whole number: the ink found whatever the light, cut into digits, the best path, and refusals.

The network is stood in for by a reader that knows the digits the number was composed of (nearest of
them in MNIST's format), so that these tests check the cutting and not a trained model; the scripts'
tests read with a real one.
"""

import json

import numpy as np
from PIL import Image
import pytest

from digits import composed, numbers
from digits.cut_verifier import overlap
from digits.data import load_mnist
from digits.errors import InputError
from digits.own_digits import MAX_IMAGE_SIDE, open_image, to_mnist_format


@pytest.fixture(scope="module")
def test_digits():
    _, (images, labels) = load_mnist()
    return images[:500], labels[:500]


def compose(test_digits, spacing, length=4, seed=0, rendering="scan"):
    images, labels = test_digits
    rng = np.random.default_rng(seed)
    number = next(composed.numbers(images, labels, 1, length, spacing, rng))
    return number, composed.render(number, rendering, rng)


def knowing_reader(images, labels):
    """probabilities_of for read_line that knows `images`: each candidate is read as the nearest of them."""
    known = np.stack([to_mnist_format(Image.fromarray(255 - image)) for image in images]).reshape(len(images), -1) / 255.0

    def probabilities_of(inputs):
        distances = ((inputs.reshape(len(inputs), 1, -1) - known[None]) ** 2).sum(axis=2)
        nearest = distances.argmin(axis=1)
        result = np.full((len(inputs), 10), 0.01)
        result[np.arange(len(inputs)), labels[nearest]] = 1 - 0.01 * 9 - np.minimum(distances.min(axis=1) / 200, 0.5)
        return result / result.sum(axis=1, keepdims=True)

    return probabilities_of


def test_the_same_ink_is_found_in_dark_ink_on_paper_light_ink_on_black_and_under_uneven_light(test_digits):
    number, scan = compose(test_digits, "separated")
    grey = np.asarray(scan, dtype=np.float64)
    found = numbers.ink_map(grey) > 0.5
    rows, columns = np.mgrid[0:grey.shape[0], 0:grey.shape[1]]
    shadowed = np.clip(grey * (0.45 + 0.55 * columns / grey.shape[1]), 0, 255)  # the light falls off to the left
    for variant in (255 - grey, shadowed):
        same = numbers.ink_map(variant) > 0.5
        assert (same != found).mean() < 0.01


def test_separated_digits_are_pieces_in_reading_order_with_their_true_boxes(test_digits):
    for seed in range(5):
        number, image = compose(test_digits, "separated", seed=seed)
        line = numbers.find_line(image)
        pieces = list(dict.fromkeys(part[4] for part in line.parts))  # in reading order
        assert len(pieces) == len(number.text)
        boxes = [line.box_of(*(lambda ks: (ks[0], ks[-1] + 1))([k for k, p in enumerate(line.parts) if p[4] == piece]))
                 for piece in pieces]
        assert [overlap(box, true) > 0.75 for box, true in zip(boxes, number.boxes)] == [True] * len(boxes)


def test_a_large_photo_is_shrunk_to_look_for_ink_and_its_boxes_are_in_its_own_pixels(test_digits):
    number, image = compose(test_digits, "separated", seed=1)
    factor = 3 * numbers.MAX_SIDE / image.size[0]
    large = image.resize((round(image.size[0] * factor), round(image.size[1] * factor)), Image.Resampling.BICUBIC)
    line = numbers.find_line(large)
    pieces = list(dict.fromkeys(part[4] for part in line.parts))
    boxes = [line.box_of(*(lambda ks: (ks[0], ks[-1] + 1))([k for k, p in enumerate(line.parts) if p[4] == piece]))
             for piece in pieces]
    true_boxes = [[value * factor for value in box] for box in number.boxes]
    assert [overlap(box, true) > 0.75 for box, true in zip(boxes, true_boxes)] == [True] * len(number.text)


def test_the_parts_of_a_piece_cut_by_seams_cover_it_once(test_digits):
    lines = (numbers.find_line(compose(test_digits, "touching", length=2, seed=seed)[1]) for seed in range(10))
    line = next(line for line in lines if len({part[4] for part in line.parts}) == 1)
    assert len(line.parts) > 2, "a piece two digits wide is cut"
    labels, boxes, areas = numbers.pieces_of(line.ink >= line.threshold)
    piece = labels == np.argmax(areas) + 1
    covered = line.parts_image > 0
    assert np.array_equal(covered, piece)
    lefts = [part[1] for part in line.parts]
    assert lefts == sorted(lefts)


def test_a_reader_that_knows_each_digit_reads_separated_and_touching_numbers_whole(test_digits):
    images, labels = test_digits
    right = []
    for spacing, length in (("separated", 4), ("touching", 2)):
        for seed in range(6):
            rng = np.random.default_rng(seed)
            chosen = rng.choice(len(images), size=length, replace=False)
            number = composed.compose([images[i] for i in chosen], labels[chosen], spacing, rng)
            read = numbers.read_number(composed.render(number, "scan", rng), knowing_reader(images[chosen], labels[chosen]))
            right.append(read.text == number.text)
            assert len(read.digits) == len(number.text) or not right[-1]
    assert np.mean(right) >= 0.9


def test_the_best_path_covers_every_part_once_at_least_cost():
    candidates = [(0, 1), (1, 2), (0, 2), (2, 3), (1, 3)]
    assert numbers.best_path(3, candidates, [1.0, 1.0, 1.5, 1.0, 0.2]) == [0, 4]
    assert numbers.best_path(3, candidates, [1.0, 1.0, 0.5, 1.0, 5.0]) == [2, 3]


def test_a_comma_or_a_point_is_left_out_of_the_number(test_digits):
    number, image = compose(test_digits, "separated")
    grey = np.asarray(image).copy()
    right = number.boxes[1][2] + 3
    bottom = max(box[3] for box in number.boxes)
    grey[bottom - 6:bottom, right:right + 5] = 20  # a point after the second digit
    line = numbers.find_line(Image.fromarray(grey))
    assert len(line.left_out) == 1 and len({part[4] for part in line.parts}) == 4


@pytest.mark.parametrize("draw, message", [
    (lambda image: None, "no ink found"),
    (lambda image: [image.paste(0, (10 + 40 * i, y, 30 + 40 * i, y + 40)) for i in range(3) for y in (20, 120)],
     "2 lines of writing"),
    (lambda image: [image.paste(0, (10 + 15 * i, 20, 18 + 15 * i, 60)) for i in range(40)], "40 pieces of ink"),
])
def test_what_is_not_one_line_of_a_number_is_refused_in_one_line(draw, message):
    image = Image.new("L", (700, 200), 235)
    draw(image)
    with pytest.raises(InputError, match=message) as refused:
        numbers.find_line(image)
    assert "\n" not in str(refused.value)


def test_an_image_too_large_a_side_is_refused_from_its_header(tmp_path):
    path = tmp_path / "long.png"
    Image.new("1", (MAX_IMAGE_SIDE * 2, 10), 1).save(path)
    with pytest.raises(InputError, match=rf"long.png: {MAX_IMAGE_SIDE * 2}x10 pixels"):
        open_image(path)


def test_touching_digits_are_composed_touching_and_overlapping_ones_overlap(test_digits):
    from scipy import ndimage

    for spacing in ("touching", "overlapping"):
        for seed in range(4):
            number, _ = compose(test_digits, spacing, length=2, seed=seed)
            _, pieces = ndimage.label(number.image > composed.INK, structure=np.ones((3, 3)))
            assert pieces == 1
    number, _ = compose(test_digits, "overlapping", length=2)
    first, second = number.boxes
    assert second[0] < first[2]


def add_own_digits(*args, cwd):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "add_own_digits.py"
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_predict_number_reads_a_photographed_number_and_its_json_gives_boxes_and_probabilities(
        reading_run, test_digits, tmp_path):
    images, labels = test_digits
    rng = np.random.default_rng(5)
    number = composed.compose([images[i] for i in (1, 2, 3, 4)], labels[[1, 2, 3, 4]], "separated", rng)
    photo = composed.render(number, "photo", rng)
    photo.save(tmp_path / "number.jpg")
    result = add_own_digits("predict", "--number", "--model", reading_run, "--json", "number.jpg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read["file"] == "number.jpg" and read["number"] == number.text
    scale = photo.size[0] / number.image.shape[1]
    for digit, true_box, label in zip(read["digits"], number.boxes, number.text):
        assert digit["digit"] == int(label) and 0 < digit["probability"] <= 1 and len(digit["probabilities"]) == 10
        assert overlap(digit["box"], [value * scale for value in true_box]) > 0.6
        assert digit["looks_like_a_digit"] in (True, False)


@pytest.mark.slow
def test_predict_number_prints_the_number_and_each_digits_probability(reading_run, test_digits, tmp_path, capsys,
                                                                      monkeypatch):
    import add_own_digits as script

    images, labels = test_digits
    rng = np.random.default_rng(6)
    number = composed.compose([images[i] for i in (5, 6, 7)], labels[[5, 6, 7]], "touching", rng)
    composed.render(number, "scan", rng).save(tmp_path / "number.png")
    monkeypatch.chdir(tmp_path)
    assert script.main(["predict", "--number", "--model", str(reading_run / "model.keras"), "number.png"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"number.png: {number.text} (") and line.count("%") == len(number.text)


@pytest.mark.slow
@pytest.mark.parametrize("name, make, message", [
    ("blank.png", lambda: Image.new("L", (400, 200), 240), "blank.png: no ink found"),
    ("page.png", lambda: page_of_text(), "lines of writing found"),
    ("huge.png", lambda: Image.new("1", (20_000, 20_000), 1), "huge.png: more than"),
])
def test_predict_number_refuses_bad_images_in_one_line_with_exit_code_2_and_writes_nothing(
        reading_run, tmp_path, name, make, message):
    make().save(tmp_path / name)
    before = sorted(tmp_path.rglob("*"))
    result = add_own_digits("predict", "--number", "--model", reading_run, name, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"add_own_digits.py: error: {result.stderr.split('error: ')[1].strip()}"]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert sorted(tmp_path.rglob("*")) == before


def page_of_text():
    from PIL import ImageDraw, ImageFont

    page = Image.new("L", (900, 600), 250)
    draw = ImageDraw.Draw(page)
    for row in range(8):
        draw.text((40, 30 + 70 * row), "The quick brown fox jumps over the lazy dog 42", fill=10,
                  font=ImageFont.load_default(size=36))
    return page


def test_the_verifier_read_with_numpy_answers_as_the_keras_network_it_was_fitted_as():
    import keras

    from digits.cut_verifier import build, weights_of

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (20, 28, 28)).astype(np.uint8)
    geometry = rng.normal(1, 0.5, (20, 8)).astype(np.float32)
    mean, scale = np.full(8, 0.5, np.float32), np.full(8, 2.0, np.float32)
    model = build(8)
    for layer in model.layers:  # biases away from zero, so that they count
        if layer.get_weights():
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape).astype(np.float32)])
    expected = model.predict([pixels[..., None] / 255.0, (geometry - mean) / scale], verbose=0).ravel()
    read = numbers.whole_digit_probabilities(pixels, geometry, weights_of(model, mean, scale))
    np.testing.assert_allclose(read, expected, rtol=1e-4, atol=1e-5)
