"""Small data the tests make for themselves: they never need ../shared or the network."""

import gzip
from pathlib import Path

import numpy as np
from PIL import Image
import pytest
from sklearn.datasets import load_digits


# The test files that take longest, slowest first: handed out first, so that the xdist workers
# (whole files each) end together rather than one running the longest files alone at the end.
SLOWEST_FILES = ("test_sweeps.py", "test_train_cli.py", "test_evaluate.py", "test_sweep_reports.py",
                 "test_add_own_digits.py", "test_draw.py", "test_notebook.py", "test_training.py",
                 "test_draw_browser.py", "test_tensorboard.py", "test_recipes.py", "test_export.py", "test_model.py")


def pytest_collection_modifyitems(config, items):
    """Run SLOWEST_FILES first, in that order, then the rest as collected (pytest.ini turns off
    xdist's own reordering, by number of tests, which knows nothing of time)."""
    rank = {name: number for number, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))


def write_idx(path, array, gz=False):
    """Write a uint8 array in the IDX format MNIST is published in (magic 0x0000 08 ndim, then dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    Path(path).write_bytes(gzip.compress(data) if gz else data)
    return Path(path)


def random_mnist(n_train=30, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def sklearn_digits_as_mnist():
    """scikit-learn's 1,797 bundled 8x8 digits drawn MNIST-style: scaled to 20x20 inside a 28x28 frame."""
    digits = load_digits()
    images = np.zeros((len(digits.images), 28, 28), dtype=np.uint8)
    for i, small in enumerate(digits.images):
        grey = Image.fromarray((small * (255 / 16)).astype(np.uint8))
        images[i, 4:24, 4:24] = np.asarray(grey.resize((20, 20), Image.Resampling.BILINEAR))
    return images, digits.target.astype(np.uint8)


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory):
    """A Keras-layout .npz of scikit-learn's digits: 1,500 training and 297 test images."""
    images, labels = sklearn_digits_as_mnist()
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x_train=images[:1500], y_train=labels[:1500], x_test=images[1500:], y_test=labels[1500:])
    return path


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory, digits_npz):
    """Two run folders of a tiny network trained for one epoch on scikit-learn's digits (80-90% right):
    "plain", trained on all 1,500 training images with no validation slice and so no temperature, and
    "calibrated", trained on the first 1,200 with a temperature fitted on the other 300 and stored in its
    run.json, as training does."""
    import json

    import keras

    from digits.calibration import calibrate
    from digits.config import RunConfig
    from digits.data import to_inputs, to_one_hot
    from digits.model import new_model, predict_probabilities

    folder = tmp_path_factory.mktemp("tiny-runs")
    data = np.load(digits_npz)
    x, y = to_inputs(data["x_train"]), data["y_train"]
    runs = {}
    for name, filters, validation_split in (("plain", (4, 8), 0.0), ("calibrated", (8, 8), 0.2)):
        config = RunConfig(data=str(digits_npz), filters=filters, epochs=1, learning_rate=0.005,
                           validation_split=validation_split)
        split = int(len(x) * (1 - validation_split))
        keras.utils.set_random_seed(len(name))
        model = new_model(config)
        model.fit(x[:split], to_one_hot(y[:split]), batch_size=64, epochs=1, verbose=0)
        record = {"config": config.to_dict()}
        if split < len(x):
            record["calibration"] = calibrate(y[split:], predict_probabilities(model, x[split:]))
        runs[name] = folder / name
        runs[name].mkdir()
        model.save(runs[name] / "model.keras")
        (runs[name] / "run.json").write_text(json.dumps(record))
    return runs


@pytest.fixture(scope="session")
def reading_run(tmp_path_factory):
    """A run folder of a small network trained for two epochs on 9,000 of MNIST's training digits, with its
    validation slice of 1,000 and its temperature: it reads about 97% of test digits right, enough to read
    whole numbers in the scripts' tests."""
    import json

    import keras

    from digits.calibration import calibrate
    from digits.config import RunConfig
    from digits.data import load_mnist, to_inputs, to_one_hot
    from digits.model import new_model, predict_probabilities

    (images, labels), _ = load_mnist(limit=10_000)
    config = RunConfig(filters=(16, 32), epochs=2, limit=10_000, learning_rate=0.002, validation_split=0.1)
    keras.utils.set_random_seed(0)
    model = new_model(config)
    x = to_inputs(images)
    model.fit(x[:9000], to_one_hot(labels[:9000]), batch_size=64, epochs=config.epochs, verbose=0)
    folder = tmp_path_factory.mktemp("reading-run")
    model.save(folder / "model.keras")
    record = {"config": config.to_dict(), "calibration": calibrate(labels[9000:], predict_probabilities(model, x[9000:]))}
    (folder / "run.json").write_text(json.dumps(record))
    return folder
