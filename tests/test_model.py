"""The report's network: its layers, its 80,266 parameters, and its optimizers."""

import pytest

from digits.config import RunConfig
from digits.model import build_cnn, compile_cnn


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
    model = compile_cnn(RunConfig(optimizer=optimizer, learning_rate=learning_rate))
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(model.optimizer.learning_rate) == pytest.approx(expected)
    assert model.loss == "categorical_crossentropy"
