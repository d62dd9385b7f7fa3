"""The heat maps' sanity checks: they add up to the logit they explain, they depend on what the
network learned (Adebayo et al., "Sanity Checks for Saliency Maps", 2018), and they lie where
the digit is, wherever it is drawn."""

import numpy as np
from PIL import Image
import pytest
from scipy import ndimage
from scipy.stats import spearmanr

from digits.config import RunConfig
from digits.data import load_mnist, to_inputs
from digits.saliency import blurred, heat_map, integrated_gradients, logits

CONFIG = RunConfig(filters=(8, 16), learning_rate=0.005)
SHOWN = 8  # test digits each check looks at


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(limit=400)


@pytest.fixture(scope="module")
def trained(mnist):
    """A small network trained for a moment on 400 MNIST digits: it reads most test digits right."""
    import keras

    from digits.data import to_one_hot
    from digits.model import new_model

    (x_train, y_train), _ = mnist
    keras.utils.set_random_seed(1)
    model = new_model(CONFIG)
    model.fit(to_inputs(x_train), to_one_hot(y_train), batch_size=32, epochs=3, verbose=0)
    return model


def untrained(seed):
    """The same network with fresh random weights: what it computes owes nothing to the data."""
    import keras

    from digits.model import build_cnn

    keras.utils.set_random_seed(seed)
    return build_cnn(CONFIG)


def test_the_logits_are_what_the_softmax_reads(mnist):
    model = untrained(3)
    inputs = to_inputs(mnist[1][0][:SHOWN])
    probabilities = model.predict(inputs, verbose=0)
    z = np.asarray(logits(model, inputs))
    assert np.allclose(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), probabilities, atol=1e-5)


def test_the_shares_add_up_to_the_change_in_the_logit(mnist):
    """Integrated gradients' completeness: each map sums to logit(image) - logit(baseline)."""
    model = untrained(4)
    (_, _), (x_test, y_test) = mnist
    inputs, classes = to_inputs(x_test[:SHOWN]), y_test[:SHOWN]
    maps = integrated_gradients(model, inputs, classes)
    rows = np.arange(SHOWN)
    change = np.asarray(logits(model, inputs))[rows, classes] - np.asarray(logits(model, blurred(inputs)))[rows, classes]
    assert maps.shape == (SHOWN, 28, 28)
    assert np.allclose(maps.reshape(SHOWN, -1).sum(axis=1), change, rtol=0.02, atol=1e-3)


def test_heat_maps_are_signed_and_scaled_for_display(mnist):
    model = untrained(5)
    (_, _), (x_test, y_test) = mnist
    maps = heat_map([model, model], to_inputs(x_test[:2]), y_test[:2])
    assert maps.shape == (2, 28, 28) and maps.min() >= -1 and maps.max() <= 1
    assert (maps == 1).any() or (maps == -1).any()  # each scaled to its own strongest pixels
    assert (maps > 0).any() and (maps < 0).any()


def test_a_model_that_does_not_end_in_dense_is_refused():
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Softmax()])
    with pytest.raises(ValueError, match="ends in Softmax"):
        logits(model, np.zeros((1, 28, 28, 1), np.float32))


@pytest.mark.slow
def test_randomized_weights_change_the_map(trained, mnist):
    """Adebayo et al.'s model parameter randomization test: the map of the same network with random
    weights must differ from the trained one's, or the map shows the image, not what was learned.
    Compared signed: the maps' magnitudes follow the ink under any weights, their signs do not."""
    (_, _), (x_test, y_test) = mnist
    inputs, classes = to_inputs(x_test[:SHOWN]), y_test[:SHOWN]
    learned = heat_map(trained, inputs, classes)
    for seed in (11, 12):
        random = heat_map(untrained(seed), inputs, classes)
        correlations = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(learned, random)]
        assert np.median(correlations) < 0.5, correlations


def in_a_corner(image, corner, size=14):
    """An MNIST digit shrunk to size x size into one corner of an empty 28x28 canvas."""
    small = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))
    canvas = np.zeros_like(image)
    top, left = corner
    canvas[top:top + size, left:left + size] = small
    return canvas


@pytest.mark.slow
def test_a_digit_in_a_corner_has_its_map_on_its_ink(trained, mnist):
    """The evidence lies on the strokes and next to them, not where digits usually are (the centre)."""
    (_, _), (x_test, _) = mnist
    corners = ((0, 0), (14, 14), (0, 14), (14, 0))
    images = np.stack([in_a_corner(x_test[i], corners[i % len(corners)]) for i in range(SHOWN)])
    inputs = to_inputs(images)
    read = trained.predict(inputs, verbose=0).argmax(axis=1)
    maps = np.abs(heat_map(trained, inputs, read))
    near_ink = ndimage.binary_dilation(images > 0, iterations=2, axes=(1, 2))
    shares = (maps * near_ink).sum(axis=(1, 2)) / maps.sum(axis=(1, 2))
    assert shares.min() > 0.8, shares
