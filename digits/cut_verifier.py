"""The number reader's cut verifier: whether a candidate piece of ink is one whole digit.

The digit network gives some digit a high probability for half a digit, or for two touching
digits squeezed into 28x28, so its probabilities alone cannot choose among cuts (LeCun et al.
1998 trained their recognizer to reject badly cut characters). This small network learns it
instead, from the candidates of numbers composed from MNIST's training digits (digits.composed):
a candidate whose box matches a digit's true box is whole, every other candidate is not. It
reads a candidate's 28x28 pixels and its geometry (digits.numbers.Line.geometry), knows nothing
of any digit network, and is kept as NumPy arrays in digits/cut_verifier.npz, which
digits.numbers reads without TensorFlow; `python -m digits.cut_verifier` fits it again.
"""

import argparse

import numpy as np

from digits.composed import RENDERINGS, SPACINGS, numbers, render, scale_box
from digits.errors import InputError
from digits.numbers import VERIFIER_FILE, find_line

WHOLE_OVERLAP = 0.75  # intersection over union with a digit's true box that makes a candidate whole
EPOCHS = 4


def overlap(box, other):
    """Intersection over union of two boxes (left, top, right, bottom)."""
    width = min(box[2], other[2]) - max(box[0], other[0])
    height = min(box[3], other[3]) - max(box[1], other[1])
    if width <= 0 or height <= 0:
        return 0.0
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (box, other)]
    return width * height / (sum(areas) - width * height)


def labelled_candidates(images, labels, count, seed):
    """The candidates of `count` numbers of 2-6 digits composed from `images`, every spacing drawn and the
    renderings in turn: (pixels (N, 28, 28) uint8, geometry (N, G), whole (N,) bool)."""
    rng = np.random.default_rng(seed)
    pixels, geometry, whole = [], [], []
    for index, composed in enumerate(numbers(images, labels, count, (2, 6), SPACINGS, rng)):
        image = render(composed, RENDERINGS[index % len(RENDERINGS)], rng)
        try:
            line = find_line(image)  # as a reading finds it
        except InputError:
            continue
        truth = [scale_box(box, composed, image) for box in composed.boxes]
        candidates, line_pixels, line_geometry = line.candidate_views()
        pixels.append(line_pixels)
        geometry.append(line_geometry)
        whole += [max(overlap(line.box_of(*candidate), box) for box in truth) >= WHOLE_OVERLAP for candidate in candidates]
        if (index + 1) % 100 == 0:
            print(f"{index + 1}/{count} numbers, {len(whole)} candidates", flush=True)
    return np.concatenate(pixels), np.concatenate(geometry), np.array(whole)


def build(geometry_size):
    """Two small convolutions over the pixels, their features joined with the geometry, one hidden layer."""
    import keras
    from keras import layers

    pixels = keras.Input((28, 28, 1), name="pixels")
    geometry = keras.Input((geometry_size,), name="geometry")
    x = layers.Conv2D(16, 3, activation="relu", name="conv1")(pixels)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Concatenate()([layers.Flatten()(x), geometry])
    x = layers.Dense(64, activation="relu", name="dense")(x)
    return keras.Model([pixels, geometry], layers.Dense(1, activation="sigmoid", name="out")(x))


def fit(pixels, geometry, whole, seed=0, epochs=EPOCHS):
    """The verifier's weights, as digits.numbers.whole_digit_probabilities reads them."""
    import keras

    keras.utils.set_random_seed(seed)
    mean, scale = geometry.mean(axis=0), geometry.std(axis=0) + 1e-3
    model = build(geometry.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit([pixels[..., None] / 255.0, (geometry - mean) / scale], whole.astype(np.float32),
              batch_size=256, epochs=epochs, validation_split=0.05, verbose=2)
    return weights_of(model, mean, scale)


def weights_of(model, geometry_mean, geometry_scale):
    """A built verifier's weights and the geometry's standardisation, as NumPy arrays by name."""
    weights = {"geometry_mean": geometry_mean, "geometry_scale": geometry_scale}
    for name in ("conv1", "conv2", "dense", "out"):
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}_kernel"], weights[f"{name}_bias"] = kernel, bias
    return {name: np.asarray(value, dtype=np.float32) for name, value in weights.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--numbers", type=int, default=2000, help="numbers to compose (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(VERIFIER_FILE), help="where to keep it (default: %(default)s)")
    args = parser.parse_args()

    from digits.data import load_mnist, split_point
    from digits.files import atomic_path

    (train_images, train_labels), _ = load_mnist()
    cut = split_point(len(train_images), 0.1)  # the validation slice stays unseen: settings are chosen on it
    pixels, geometry, whole = labelled_candidates(train_images[:cut], train_labels[:cut], args.numbers, args.seed)
    print(f"{len(whole)} candidates, {whole.mean():.1%} whole digits")
    weights = fit(pixels, geometry, whole, args.seed)
    with atomic_path(args.out) as temporary, open(temporary, "wb") as file:
        np.savez(file, **weights)
    print(f"Saved {args.out}")


if __name__ == "__main__":
    main()
