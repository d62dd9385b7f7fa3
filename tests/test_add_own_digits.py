"""add_own_digits.py as a user runs it: a folder tree of photographed digits, trained on and predicted."""

import json
from pathlib import Path
import subprocess
import sys

from PIL import Image
import pytest

from conftest import sklearn_digits_as_mnist
from digits.own_digits import read_digit_folders
from harness.photos import simulate_photo as photograph

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "add_own_digits.py"
KINDS = ("grey", "rgb", "jpeg", "rgba", "palette", "light-on-dark")


def add_own_digits(*args, cwd):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def own_digits(tmp_path_factory):
    """data/train/<digit>/ with 2 photographed digits each and data/validation/<digit>/ with 1,
    in every image mode, plus the kinds of file a person gets wrong."""
    root = tmp_path_factory.mktemp("own")
    images, labels = sklearn_digits_as_mnist()
    wanted = {"train": 2, "validation": 1}
    taken = {split: {digit: 0 for digit in range(10)} for split in wanted}
    for i, (image, label) in enumerate(zip(images, labels)):
        split = "train" if i < 1000 else "validation"
        if taken[split][label] >= wanted[split]:
            continue
        taken[split][label] += 1
        folder = root / "data" / split / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        kind = KINDS[i % len(KINDS)]
        photograph(image, kind).save(folder / f"{kind}-{i}.{'jpg' if kind == 'jpeg' else 'png'}")
    train = root / "data" / "train"
    (train / "7" / "notes.png").write_text("not an image")
    (train / "3" / "cut.png").write_bytes((next((train / "3").glob("*.png"))).read_bytes()[:300])
    Image.new("L", (64, 64), 255).save(train / "5" / "blank.png")
    (train / "seven").mkdir()
    (train / "8" / "extra").mkdir()
    (root / "data" / "train" / "empty").mkdir()
    return root


def test_the_folders_are_read_and_every_bad_file_named(own_digits):
    folder = read_digit_folders(own_digits / "data" / "train")
    assert folder.counts() == {digit: 2 for digit in range(10)}
    assert folder.images.shape == (20, 28, 28)
    reasons = "\n".join(folder.skipped)
    assert "notes.png: not an image Pillow can read" in reasons
    assert "cut.png: damaged or truncated image" in reasons
    assert "blank.png: blank: no ink found" in reasons
    assert "seven: folder name is not a digit 0-9" in reasons and "empty: folder name is not a digit 0-9" in reasons
    assert read_digit_folders(own_digits / "nowhere").skipped == [f"{own_digits / 'nowhere'}: no such folder"]


@pytest.mark.slow
def test_train_then_predict_end_to_end(own_digits, digits_npz):
    result = add_own_digits("--data", digits_npz, "--limit", 400, "--epochs", 2, "--repeat", 3, "--filters", "8,8",
                            cwd=own_digits)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "data/train: 20 image(s) read" in out and "data/validation: 10 image(s) read" in out
    assert "skipped data/train/7/notes.png: not an image" in out and "file(s) or folder(s) skipped" in out
    assert "After: MNIST test" in out and "your validation images" in out
    record = json.loads((own_digits / "models" / "own-digits" / "run.json").read_text())
    assert record["own_digits"]["repeat"] == 3 and record["own_digits"]["train_counts"]["0"] == 2
    assert set(record["accuracy_after"]) == {"MNIST test", "your validation images"}
    with Image.open(own_digits / "models" / "own-digits" / "own_digits.png") as figure:  # it goes with the run
        assert figure.width > 800

    files = sorted(str(path) for path in (own_digits / "data" / "validation").glob("*/*"))
    predicted = add_own_digits("predict", "--model", "models/own-digits", "--json", *files, "nowhere.png", cwd=own_digits)
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [row["file"] for row in rows] == files
    assert all(0 <= row["digit"] <= 9 and 0 < row["probability"] <= 1 for row in rows)
    assert "skipped nowhere.png: no such file" in predicted.stderr

    continued = add_own_digits("--model", "models/own-digits", "--fine-tune-epochs", 1, "--data", digits_npz,
                               "--limit", 200, "--out", "models/continued", cwd=own_digits)
    assert continued.returncode == 0, continued.stderr
    assert "Before (models/own-digits/model.keras): MNIST test" in continued.stdout


def test_nothing_usable_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "data" / "train" / "4").mkdir(parents=True)
    (tmp_path / "data" / "train" / "4" / "bad.jpg").write_text("no")
    result = add_own_digits(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "add_own_digits.py: error: no usable images in data/train or data/validation (2 skipped)"]
    assert "Traceback" not in result.stderr


def test_predict_with_no_readable_file_is_exit_code_2_in_one_line_naming_it(tmp_path):
    from digits.config import RunConfig
    from digits.model import build_cnn

    build_cnn(RunConfig(filters=(4,))).save(tmp_path / "model.keras")
    Image.new("RGB", (30, 30), "white").save(tmp_path / "blank.png")
    alone = add_own_digits("predict", "--model", tmp_path / "model.keras", "blank.png", cwd=tmp_path)
    assert alone.returncode == 2
    assert alone.stderr.strip().splitlines() == [
        "add_own_digits.py: error: blank.png: blank: no ink found (the image is one flat shade)"]
    several = add_own_digits("predict", "--model", tmp_path / "model.keras", "blank.png", "gone.png", cwd=tmp_path)
    assert several.returncode == 2 and "none of the 2 file(s) could be read" in several.stderr
    assert "skipped gone.png: no such file" in several.stderr


def saved_run(folder, **settings):
    """A run folder as train_cnn.py leaves it, as far as parsing needs: run.json and a model file."""
    from digits.config import RunConfig

    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"config": RunConfig(**settings).to_dict()}))
    (folder / "model.keras").write_bytes(b"")
    return folder


def training_config(*argv):
    import add_own_digits

    args = add_own_digits.build_parser().parse_args(add_own_digits.with_default_command(list(argv)))
    return add_own_digits.training_config(args)[0]


def test_flags_given_apply_to_the_fine_tuning_over_the_saved_run(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    run = saved_run(tmp_path / "run", data="saved.npz", batch_size=32, seed=3, filters=(8, 8))
    config = training_config("--model", str(run), "--batch-size", "64")  # 64 is the default: given, it applies
    assert (config.batch_size, config.seed, config.filters, config.data, config.epochs) == (64, 3, (8, 8), "saved.npz", 3)
    config = training_config("train", "--model", str(run), "--fine-tune-epochs", "5", "--data", "other.npz")
    assert (config.batch_size, config.epochs, config.data) == (32, 5, "other.npz")


@pytest.mark.parametrize("argv, message", [
    (["--model", "RUN", "--filters", "32,32"], "--filters cannot change a saved model"),
    (["--model", "RUN", "--optimizer", "sgd"], "--optimizer cannot change a saved model"),
    (["--model", "RUN", "--epochs", "2"], "--epochs is for a new model; a continued --model trains for --fine-tune-epochs"),
    (["--fine-tune-epochs", "2"], "--fine-tune-epochs goes with --model"),
    (["--repeat", "0"], "argument --repeat: expected a whole number of at least 1"),
    (["predcit", "x.png"], "invalid choice: 'predcit'"),
])
def test_flags_that_cannot_apply_are_refused_in_one_line(tmp_path, argv, message):
    saved_run(tmp_path / "RUN")
    result = add_own_digits(*argv, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "models").exists()


def test_each_command_lists_its_own_flags(tmp_path):
    predict = add_own_digits("predict", "--help", cwd=tmp_path).stdout
    train = add_own_digits("train", "--help", cwd=tmp_path).stdout
    assert "--json" in predict and "--repeat" not in predict
    assert "--repeat" in train and "--fine-tune-epochs" in train and "--json" not in train


def test_predict_on_a_folder_says_it_is_a_folder(tmp_path):
    (tmp_path / "digits").mkdir()
    saved_run(tmp_path / "RUN")
    result = add_own_digits("predict", "--model", "RUN", "digits", cwd=tmp_path)
    assert result.returncode == 2 and "error: digits: a folder, not an image file" in result.stderr


@pytest.mark.parametrize("model, saliency, message", [
    ("model.onnx", "maps", "--saliency: model.onnx is an export, which has no gradients to follow"),
    ("RUN", "RUN/run.json", "--saliency RUN/run.json: a file, not a folder"),
])
def test_saliency_that_cannot_apply_is_refused_in_one_line(tmp_path, model, saliency, message):
    saved_run(tmp_path / "RUN")
    (tmp_path / "model.onnx").write_bytes(b"")
    result = add_own_digits("predict", "--model", model, "--saliency", saliency, "x.png", cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "maps").exists()


@pytest.mark.slow
def test_saliency_writes_a_figure_per_image(tmp_path):
    from digits.config import RunConfig
    from digits.model import build_cnn

    build_cnn(RunConfig(filters=(4,))).save(tmp_path / "model.keras")
    images, _ = sklearn_digits_as_mnist()
    for folder, image in (("a", images[0]), ("b", images[1])):  # two files of the same name
        (tmp_path / folder).mkdir()
        Image.fromarray(255 - image).save(tmp_path / folder / "digit.png")
    result = add_own_digits("predict", "--model", "model.keras", "--saliency", "maps", "--json", "a/digit.png",
                            "b/digit.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["file"] for line in result.stdout.splitlines()] == ["a/digit.png", "b/digit.png"]
    assert "Saved 2 heat map figure(s) in maps/" in result.stderr
    for name in ("digit.png", "digit_.png"):
        with Image.open(tmp_path / "maps" / name) as figure:
            assert figure.width > 600
