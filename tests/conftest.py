"""Small data the tests make for themselves: they never need ../shared or the network."""

import gzip
from pathlib import Path

import numpy as np
from PIL import Image
import pytest
from sklearn.datasets import load_digits


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
