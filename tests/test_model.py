"""The report's network: its layers, its 80,266 parameters, and its optimizers."""

import keras
import numpy as np
import pytest

from conftest import sklearn_digits_as_mnist
from digits.config import RunConfig
from digits.data import to_inputs, to_one_hot
from digits.model import as_float32, build_cnn, layer_table, make_optimizer, new_model


def test_default_network_is_the_reports():
    model = build_cnn(RunConfig())
    assert model.count_params() == 80_266
    layers = [(layer.name, tuple(layer.output.shape), layer.count_params()) for layer in model.layers]
    assert layers == [
        ("conv2d", (None, 26, 26, 64), 640),
        ("max_pooling2d", (None, 13, 13, 64), 0),
        ("conv2d_1", (None, 11, 11, 64), 36_928),
        ("max_pooling2d_1", (None, 5, 5, 64), 0),
        ("conv2d_2", (None, 3, 3, 64), 36_928),
        ("flatten", (None, 576), 0),
        ("dropout", (None, 576), 0),
        ("dense", (None, 10), 5_770),
    ]
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.layers[-2].rate == 0.3


def test_layer_table_describes_the_network_figure():
    rows = layer_table(build_cnn(RunConfig(filters=(8, 16), kernel_size=5, pool_size=3, dropout=0.5)))
    assert [(row["kind"], row["detail"], row["shape"]) for row in rows] == [
        ("Input", "", (28, 28, 1)),
        ("Conv2D", "8 filters 5x5, relu", (24, 24, 8)),
        ("MaxPooling2D", "3x3 max", (8, 8, 8)),
        ("Conv2D", "16 filters 5x5, relu", (4, 4, 16)),
        ("Flatten", "", (256,)),
        ("Dropout", "rate 0.5, training only", (256,)),
        ("Dense", "10 units, softmax", (10,)),
    ]
    assert sum(row["parameters"] for row in rows) == 208 + 3_216 + 2_570


def test_building_twice_gives_the_same_layer_names():
    assert [layer.name for layer in build_cnn(RunConfig()).layers] == [layer.name for layer in build_cnn(RunConfig()).layers]


def test_filters_kernel_and_pool_follow_the_config():
    model = build_cnn(RunConfig(filters=(8, 16), kernel_size=5, pool_size=3, dropout=0.5))
    # 28 -conv5-> 24 -pool3-> 8 -conv5-> 4: 8*(5*5*1+1) + 16*(5*5*8+1) + (4*4*16+1)*10
    assert model.count_params() == 208 + 3_216 + 2_570
    assert model.layers[-1].output.shape[-1] == 10


@pytest.mark.parametrize(
    "optimizer, learning_rate, expected",
    [("adam", None, 0.001), ("sgd", None, 0.01), ("rmsprop", None, 0.001), ("sgd", 0.1, 0.1)],
)
def test_optimizer_and_learning_rate(optimizer, learning_rate, expected):
    model = new_model(RunConfig(optimizer=optimizer, learning_rate=learning_rate))
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(expected)
    assert model.loss == "categorical_crossentropy"


@pytest.fixture(scope="module")
def small_digits():
    images, labels = sklearn_digits_as_mnist()
    return to_inputs(images[:640]), to_one_hot(labels[:640])


def trained_weights(model, x, y, config):
    keras.utils.set_random_seed(config.seed)
    model.fit(x, y, batch_size=config.batch_size, epochs=2, verbose=0)
    return model.get_weights()


@pytest.mark.slow
def test_steps_per_execution_learns_the_very_same_weights(small_digits):
    """The project's speed-up runs 32 steps per call; it must not change what is learned."""
    x, y = small_digits
    config = RunConfig()
    keras.utils.set_random_seed(config.seed)
    fast = new_model(config)
    keras.utils.set_random_seed(config.seed)
    plain = build_cnn(config)
    plain.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"])
    assert fast.steps_per_execution == 32 and plain.steps_per_execution == 1
    for fast_weights, plain_weights in zip(trained_weights(fast, x, y, config), trained_weights(plain, x, y, config)):
        np.testing.assert_array_equal(fast_weights, plain_weights)


def test_mixed_precision_computes_in_16_bits_but_keeps_float32_weights_and_output():
    model = build_cnn(RunConfig(), "mixed_bfloat16")
    assert [layer.compute_dtype for layer in model.layers] == ["bfloat16"] * 7 + ["float32"]
    assert {weight.dtype for weight in model.weights} == {"float32"}


@pytest.mark.slow
def test_a_mixed_precision_model_is_saved_as_float32_with_its_weights_and_optimizer_state(small_digits):
    x, y = small_digits
    config = RunConfig()
    mixed = new_model(config, policy="mixed_bfloat16")
    trained_weights(mixed, x, y, config)
    plain = as_float32(mixed, config)
    assert {layer.compute_dtype for layer in plain.layers} == {"float32"}
    for mixed_weights, plain_weights in zip(mixed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(mixed_weights, plain_weights)
    assert int(plain.optimizer.iterations) == int(mixed.optimizer.iterations) == 20
    for mixed_variable, plain_variable in zip(mixed.optimizer.variables, plain.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(mixed_variable), np.asarray(plain_variable))
    # The same weights, computed in float32 rather than bfloat16: the same answers, within bfloat16's rounding.
    np.testing.assert_allclose(plain.predict(x, verbose=0), mixed.predict(x, verbose=0), atol=0.02)
    assert as_float32(plain, config) is plain


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """A tiny trained model saved as model.keras and model.h5, and each cut to half its length."""
    from digits.model import save_model

    folder = tmp_path_factory.mktemp("saved")
    model = new_model(RunConfig(filters=(2, 2), epochs=1))
    model.fit(np.zeros((4, 28, 28, 1)), to_one_hot(np.zeros(4, dtype=int)), verbose=0)
    paths = {}
    for name in ("model.keras", "model.h5"):
        save_model(model, folder / name)
        whole = (folder / name).read_bytes()
        paths[name] = folder / name
        (folder / f"cut-{name}").mkdir()
        paths[f"cut-{name}"] = folder / f"cut-{name}" / name
        paths[f"cut-{name}"].write_bytes(whole[:len(whole) // 2])
    return paths


@pytest.mark.parametrize("name, message", [
    ("cut-model.keras", r"model.keras: not a complete Keras model \(the zip archive is cut short"),
    ("cut-model.h5", r"model.h5: not a complete Keras model \(the HDF5 file is cut short: [\d,]+ of its [\d,]+ bytes\)"),
])
def test_a_model_file_cut_short_is_named_so(saved_models, name, message):
    from digits.errors import InputError
    from digits.model import load_trained_model

    with pytest.raises(InputError, match=message) as error:
        load_trained_model(saved_models[name])
    assert "not found" not in str(error.value)


@pytest.mark.parametrize("name", ["model.keras", "model.h5"])
def test_loading_a_model_logs_no_warning(saved_models, name, caplog):
    from digits.model import load_trained_model

    with caplog.at_level("WARNING"):
        model = load_trained_model(saved_models[name])
    assert model.output_shape == (None, 10)
    assert not [record.getMessage() for record in caplog.records if record.levelname != "INFO"]
