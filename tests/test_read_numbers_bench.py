"""bench/read_numbers.py: its scores, Tesseract read through its command line, and a short run on a small network."""

import shutil

from PIL import Image, ImageDraw, ImageFont
import pytest

import read_numbers as bench


def test_whole_numbers_count_only_when_every_digit_is_right_and_digits_by_edit_distance():
    assert bench.edit_distance("2026", "2026") == 0
    assert bench.edit_distance("226", "2026") == 1 and bench.edit_distance("20261", "2026") == 1
    whole, interval, digits = bench.scores(["2026", "226", "1984"], ["2026", "2026", "1985"])
    assert whole == pytest.approx(1 / 3) and interval > 0
    assert digits == pytest.approx(1 - 2 / 12)


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="Debian's tesseract-ocr is not installed")
def test_tesseract_reads_printed_digits_one_page_per_file(tmp_path):
    files = []
    for text in ("2026", "1984", "70"):
        image = Image.new("L", (320, 90), 255)
        ImageDraw.Draw(image).text((20, 15), text, fill=0, font=ImageFont.load_default(size=52))
        files.append(str(tmp_path / f"{text}.png"))
        image.save(files[-1])
    assert bench.read_with_tesseract(files, tmp_path) == ["2026", "1984", "70"]


@pytest.mark.slow
def test_a_short_run_scores_our_reading_and_tesseracts_on_the_same_numbers(reading_run, tmp_path):
    shutil.copy(reading_run / "model.keras", tmp_path)  # the model alone: no not-a-digit detector to fit first
    kinds = [kind for kind in bench.KINDS if kind[0] == "4 digits, separated, scan"]
    rows = list(bench.measure(kinds, bench.digit_sources("test"), [str(tmp_path / "model.keras")], count=10, seed=0,
                              tesseract=shutil.which("tesseract") is not None, true_boxes=True))
    [(name, ours, theirs, perfect_cuts)] = rows
    assert name == "4 digits, separated, scan"
    assert ours[0] >= 0.5 and ours[2] >= 0.8  # a network reading about 97% of digits right
    assert perfect_cuts[2] >= 0.8
    if theirs is not None:
        assert 0 <= theirs[0] <= 1 and 0 <= theirs[2] <= 1
