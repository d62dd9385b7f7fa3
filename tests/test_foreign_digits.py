"""bench/foreign_digits.py: scikit-learn's 8x8 digits brought the way a photo goes, and the accuracies it prints
checked against a computation of its own."""

import json

import numpy as np
from PIL import Image
import pytest
from sklearn.datasets import load_digits

import foreign_digits
from digits.calibration import calibrated, expected_calibration_error
from digits.run_folder import temperature_of
from digits.data import to_inputs
from digits.errors import InputError
from digits.own_digits import read_digit_image, to_mnist_format


def photo(small):
    """An 8x8 digit drawn dark on white, 64 pixels a side, pasted 16 pixels in on a 96x96 white page."""
    page = Image.new("L", (96, 96), 255)
    page.paste(Image.fromarray(np.round(255 - small * 255 / 16).astype(np.uint8)).resize((64, 64), Image.Resampling.BILINEAR),
               (16, 16))
    return page


def test_an_8x8_digit_becomes_what_predict_makes_of_a_photo_of_it(tmp_path):
    small = load_digits().images[7]
    given = foreign_digits.as_photo(small)
    assert given.size == (96, 96) and given.mode == "L"
    np.testing.assert_array_equal(np.asarray(given), np.asarray(photo(small)))
    pixels = np.asarray(given)
    assert (pixels[:16] == 255).all() and (pixels[:, -16:] == 255).all() and pixels.min() < 40  # dark ink, white margin
    given.save(tmp_path / "seven.png")
    np.testing.assert_array_equal(read_digit_image(tmp_path / "seven.png"), to_mnist_format(given))


def table(stdout, name):
    """The table printed for one source: {row name: [cells]} for the digits, "all" and "ECE"."""
    lines = stdout.split(f"\n{name}: ", 1)[1].splitlines()[2:14]
    return {line.split()[0]: line.split()[1:] for line in lines}


@pytest.mark.slow
def test_the_accuracies_printed_are_those_computed_directly(tiny_runs, tmp_path, capsys):
    from digits.model import load_trained_model, predict_probabilities

    sklearn = load_digits()
    folder = tmp_path / "mine"
    for i in range(1700, 1720):  # a labelled folder, with digits left out for a per-digit "–"
        if sklearn.target[i] < 6:
            (folder / str(sklearn.target[i])).mkdir(parents=True, exist_ok=True)
            photo(sklearn.images[i]).save(folder / str(sklearn.target[i]) / f"{i}.png")
    runs = [tiny_runs["plain"], tiny_runs["calibrated"]]
    argv = ["--model", str(runs[0]), "--model", str(runs[1]), "--ensemble", "--folder", str(folder),
            "--json", str(tmp_path / "foreign.json")]
    assert foreign_digits.main(argv) == 0
    stdout = capsys.readouterr().out

    folder_files = sorted(folder.glob("*/*.png"))
    sources = {
        foreign_digits.SKLEARN_DIGITS: ([photo(small) for small in sklearn.images], sklearn.target),
        str(folder): ([Image.open(path) for path in folder_files], np.array([int(path.parent.name) for path in folder_files])),
    }
    record = json.loads((tmp_path / "foreign.json").read_text())
    for name, (photos, labels) in sources.items():
        inputs = to_inputs(np.stack([to_mnist_format(image) for image in photos]))
        each = [calibrated(predict_probabilities(load_trained_model(run / "model.keras"), inputs), temperature_of(run) or 1)
                for run in runs]
        readings = [*each, np.mean(each, axis=0)]
        printed = table(stdout, name)
        for column, probabilities in enumerate(readings):
            predicted = probabilities.argmax(axis=1)
            for digit in range(10):
                mine = labels == digit
                expected = f"{np.mean(predicted[mine] == digit):.2%}" if mine.any() else "–"
                assert printed[str(digit)][1 + column] == expected, (name, column, digit)
                assert printed[str(digit)][0] == f"{mine.sum():,}"
            assert printed["all"][1 + column] == f"{np.mean(predicted == labels):.2%}"
            assert printed["ECE"][column] == f"{expected_calibration_error(labels, probabilities):.2%}"
            stored = list(record["sources"][name]["readings"].values())[column]
            assert stored["accuracy"] == pytest.approx(np.mean(predicted == labels))
        assert record["sources"][name]["images"] == len(labels)
    assert list(record["sources"][str(folder)]["readings"]) == ["plain", "calibrated", "ensemble of 2"]
    assert record["sources"][str(folder)]["readings"]["plain"]["per_digit"]["9"] is None
    assert [model["temperature"] for model in record["models"]] == [None, temperature_of(runs[1])]


def test_an_ensemble_of_one_model_is_refused_in_one_line(tiny_runs):
    with pytest.raises(InputError, match="^--ensemble needs two or more --model"):
        foreign_digits.main(["--model", str(tiny_runs["plain"]), "--ensemble"])
