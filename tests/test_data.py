"""The MNIST loader: round trips through .npz and IDX files, and every kind of bad file."""

import gzip
import shutil

import numpy as np
import pytest

from conftest import random_mnist, write_idx
from digits import data
from digits.data import IDX_FILES, SHIPPED_FOLDER, Dataset, describe_data, load_dataset, load_mnist, to_inputs, to_one_hot
from digits.errors import InputError


def write_idx_folder(folder, arrays, gz=False):
    folder.mkdir(exist_ok=True)
    for key, name in IDX_FILES.items():
        write_idx(folder / (name + (".gz" if gz else "")), arrays[key], gz=gz)
    return folder


def assert_same(loaded, arrays):
    (x_train, y_train), (x_test, y_test) = loaded
    for got, key in ((x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test")):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


def test_npz_round_trip(tmp_path):
    arrays = random_mnist()
    np.savez_compressed(tmp_path / "mnist.npz", **arrays)
    assert_same(load_mnist(tmp_path / "mnist.npz"), arrays)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_folder_round_trip(tmp_path, gz):
    arrays = random_mnist()
    assert_same(load_mnist(write_idx_folder(tmp_path / "idx", arrays, gz=gz)), arrays)


def test_limit_keeps_the_first_training_images_and_the_whole_test_set(tmp_path):
    arrays = random_mnist(n_train=30, n_test=10)
    np.savez(tmp_path / "mnist.npz", **arrays)
    (x_train, y_train), (x_test, _) = load_mnist(tmp_path / "mnist.npz", limit=7)
    np.testing.assert_array_equal(x_train, arrays["x_train"][:7])
    np.testing.assert_array_equal(y_train, arrays["y_train"][:7])
    assert len(x_test) == 10


def test_labels_of_any_integer_type_become_uint8(tmp_path):
    arrays = random_mnist()
    arrays["y_train"] = arrays["y_train"].astype(np.int64)
    np.savez(tmp_path / "mnist.npz", **arrays)
    (_, y_train), _ = load_mnist(tmp_path / "mnist.npz")
    assert y_train.dtype == np.uint8


def test_inputs_are_float32_in_unit_range_with_a_channel_axis():
    images = np.array([[[0, 255] * 14] * 28], dtype=np.uint8)
    inputs = to_inputs(images)
    assert inputs.shape == (1, 28, 28, 1) and inputs.dtype == np.float32
    assert inputs.min() == 0.0 and inputs.max() == 1.0


def test_one_hot_labels():
    np.testing.assert_array_equal(to_one_hot(np.array([3, 0])), np.eye(10, dtype=np.float32)[[3, 0]])


# Bad files: each must give an InputError naming the file and what is wrong.


def npz_with(tmp_path, **changes):
    arrays = {**random_mnist(), **changes}
    arrays = {key: value for key, value in arrays.items() if value is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"y_test": None}, "missing array(s) y_test"),
        ({"x_train": np.zeros((30, 28, 27), np.uint8)}, "shape (30, 28, 27)"),
        ({"x_train": np.zeros((30, 28, 28), np.float32)}, "must be uint8"),
        ({"y_train": np.full(30, 10, np.uint8)}, "outside 0-9"),
        ({"y_train": np.full(30, -1, np.int64)}, "outside 0-9"),
        ({"y_train": np.zeros(29, np.uint8)}, "30 images but 29 labels"),
        ({"y_train": np.zeros(30, np.float32)}, "integer array"),
        ({"x_test": np.zeros((0, 28, 28), np.uint8), "y_test": np.zeros(0, np.uint8)}, "holds no images"),
    ],
    ids=["missing-key", "wrong-shape", "wrong-dtype", "label-10", "label-negative", "count-mismatch",
         "float-labels", "empty"],
)
def test_bad_npz_contents(tmp_path, changes, message):
    path = npz_with(tmp_path, **changes)
    with pytest.raises(InputError, match="bad.npz") as error:
        load_mnist(path)
    assert message in str(error.value)


def test_corrupt_npz(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(InputError, match=r"mnist.npz: not a readable .npz file"):
        load_mnist(path)


def test_truncated_npz(tmp_path):
    np.savez_compressed(tmp_path / "whole.npz", **random_mnist())
    path = tmp_path / "mnist.npz"
    path.write_bytes((tmp_path / "whole.npz").read_bytes()[:2000])
    with pytest.raises(InputError, match=r"mnist.npz: not a readable .npz file"):
        load_mnist(path)


def test_pickled_npz_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, **{**random_mnist(), "x_train": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(InputError, match="mnist.npz"):
        load_mnist(path)


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match="nowhere: no such file or folder"):
        load_mnist(tmp_path / "nowhere")


def test_folder_without_idx_files(tmp_path):
    with pytest.raises(InputError, match="no train-images-idx3-ubyte or train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def test_idx_with_wrong_magic_number(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist())
    raw = bytearray((folder / "t10k-labels-idx1-ubyte").read_bytes())
    raw[2] = 0x0D  # float32 instead of unsigned byte
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"t10k-labels-idx1-ubyte: not an IDX file .*0x00000d01"):
        load_mnist(folder)


def test_truncated_idx(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist(n_train=30))
    raw = (folder / "train-images-idx3-ubyte").read_bytes()
    (folder / "train-images-idx3-ubyte").write_bytes(raw[:-100])
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte: header says 30 items .* truncated"):
        load_mnist(folder)


def test_idx_header_count_larger_than_the_data(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist(n_train=30))
    raw = bytearray((folder / "train-labels-idx1-ubyte").read_bytes())
    raw[4:8] = (60000).to_bytes(4, "big")
    (folder / "train-labels-idx1-ubyte").write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"header says 60,000 items .* holds 38 bytes"):
        load_mnist(folder)


def test_idx_images_and_labels_counts_differ(tmp_path):
    arrays = random_mnist(n_train=30)
    arrays["y_train"] = arrays["y_train"][:25]
    with pytest.raises(InputError, match="training set.*30 images but 25 labels"):
        load_mnist(write_idx_folder(tmp_path / "idx", arrays))


def test_idx_images_not_28_by_28(tmp_path):
    arrays = random_mnist()
    arrays["x_test"] = np.zeros((10, 32, 32), np.uint8)
    with pytest.raises(InputError, match=r"test set.*shape \(10, 32, 32\)"):
        load_mnist(write_idx_folder(tmp_path / "idx", arrays))


def test_truncated_gzip(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist(), gz=True)
    whole = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"train-images-idx3-ubyte.gz: cannot read it"):
        load_mnist(folder)


def test_gz_file_that_is_not_gzip(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist())
    (folder / "t10k-images-idx3-ubyte").rename(folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(InputError, match=r"t10k-images-idx3-ubyte.gz: cannot read it"):
        load_mnist(folder)


def test_gzip_of_garbage_is_not_an_idx_file(tmp_path):
    folder = write_idx_folder(tmp_path / "idx", random_mnist())
    (folder / "t10k-images-idx3-ubyte").unlink()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x1f\x8b hello"))
    with pytest.raises(InputError, match=r"t10k-images-idx3-ubyte.gz: not an IDX file"):
        load_mnist(folder)


def test_unreadable_file(tmp_path, monkeypatch):
    folder = write_idx_folder(tmp_path / "idx", random_mnist())
    real_read_bytes = type(folder).read_bytes

    def read_bytes(path):
        if path.name == "t10k-labels-idx1-ubyte":
            raise PermissionError(13, "Permission denied")
        return real_read_bytes(path)

    monkeypatch.setattr(type(folder), "read_bytes", read_bytes)
    with pytest.raises(InputError, match=r"t10k-labels-idx1-ubyte: cannot read it .*Permission denied"):
        load_mnist(folder)


def test_keras_names_the_keras_cache_which_is_checked_too(monkeypatch):
    import keras

    arrays = random_mnist()
    monkeypatch.setattr(
        keras.datasets.mnist, "load_data",
        lambda: ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])),
    )
    assert_same(load_mnist("keras"), arrays)
    arrays["y_test"] = arrays["y_test"] + 10
    with pytest.raises(InputError, match="MNIST from the Keras cache \\(test set\\): 10 label"):
        load_mnist("keras")


def test_a_text_file_given_as_data_is_named_as_not_an_npz(tmp_path):
    (tmp_path / "mnist.txt").write_text("x_train,y_train\n1,2\n")
    with pytest.raises(InputError, match=r"mnist.txt: not a readable .npz file \(not a zip archive, as .npz files are"):
        load_mnist(tmp_path / "mnist.txt")


# The MNIST shipped in data/mnist/ -------------------------------------------------------------


def test_the_shipped_mnist_is_the_whole_of_mnist_and_the_default():
    dataset = load_dataset()
    assert dataset.train_images.shape == (60_000, 28, 28) and dataset.test_images.shape == (10_000, 28, 28)
    assert np.bincount(dataset.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert dataset.source == "MNIST shipped in data/mnist"
    (x_train, y_train), (x_test, y_test) = load_mnist(SHIPPED_FOLDER)  # by name or by path, the same files
    assert_same(load_mnist("mnist"), {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test})


def test_a_changed_byte_in_the_shipped_copy_is_refused_with_how_to_restore_it(tmp_path, monkeypatch):
    copy = tmp_path / "mnist"
    shutil.copytree(SHIPPED_FOLDER, copy)
    monkeypatch.setattr(data, "SHIPPED_FOLDER", copy.resolve())
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[-20] ^= 0x01  # one bit of one byte: gzip's CRC might not even be reached
    labels.write_bytes(bytes(raw))
    for given in ("mnist", str(copy)):
        with pytest.raises(InputError, match=r"t10k-labels-idx1-ubyte.gz: damaged or changed .*git checkout data/mnist"):
            load_mnist(given)
    labels.unlink()
    with pytest.raises(InputError, match=r"t10k-labels-idx1-ubyte.gz: missing from the MNIST shipped .*git checkout data/mnist"):
        load_mnist("mnist")


def test_a_damaged_shipped_copy_stops_a_script_with_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    import train_cnn
    from digits import cli

    copy = tmp_path / "mnist"
    shutil.copytree(SHIPPED_FOLDER, copy)
    monkeypatch.setattr(data, "SHIPPED_FOLDER", copy.resolve())
    images = copy / "train-images-idx3-ubyte.gz"
    raw = bytearray(images.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    images.write_bytes(bytes(raw))
    monkeypatch.delenv("MNIST_DATA", raising=False)
    monkeypatch.setattr("sys.argv", ["train_cnn.py", "--epochs", "1", "--out", str(tmp_path / "run")])
    with pytest.raises(SystemExit) as stopped:
        cli.run(train_cnn.main)
    error = capsys.readouterr().err
    assert stopped.value.code == 2 and len(error.strip().splitlines()) == 1, error
    assert "train-images-idx3-ubyte.gz: damaged or changed" in error and "git checkout data/mnist" in error
    assert not (tmp_path / "run").exists()


def test_the_fingerprint_names_the_data_seen_not_its_path(tmp_path):
    shutil.copytree(SHIPPED_FOLDER, tmp_path / "elsewhere")
    shipped = load_dataset(limit=2000).fingerprint(0.1)
    assert load_dataset(tmp_path / "elsewhere", limit=2000).fingerprint(0.1)["sha256"] == shipped["sha256"]
    assert (shipped["train"]["images"], shipped["validation"]["images"], shipped["test"]["images"]) == (1800, 200, 10_000)
    assert load_dataset(limit=2001).fingerprint(0.1)["sha256"] != shipped["sha256"]
    assert load_dataset(limit=2000).fingerprint(0.2)["sha256"] != shipped["sha256"]
    whole = load_dataset(limit=2000).fingerprint()
    assert whole["validation"] is None and whole["train"]["images"] == 2000
    assert describe_data(shipped) == ("MNIST shipped in data/mnist, first 2,000 training images: 1,800 training, "
                                      f"200 validation and 10,000 test images (data {shipped['sha256'][:8]})")


def test_own_digits_go_first_so_that_the_validation_slice_stays_mnist():
    arrays = random_mnist(n_train=50)
    dataset = Dataset(arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source="random")
    own = np.full((5, 28, 28), 255, dtype=np.uint8)
    extended = dataset.with_extra_training(own, np.full(5, 7, dtype=np.uint8))
    assert len(extended.train_images) == 55 and (extended.train_images[:5] == 255).all()
    np.testing.assert_array_equal(extended.train_images[-10:], arrays["x_train"][-10:])  # the held-out end
