"""The report's convolutional network, built and compiled from a RunConfig."""

import keras
from keras import layers
import numpy as np

from digits.config import IMAGE_SIZE, NUM_CLASSES
from digits.errors import InputError, first_line

PREDICTION_BATCH_SIZE = 500  # prediction only: bigger batches are faster and give the same numbers

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_cnn(config):
    """Conv2D(relu) -> MaxPooling2D for each filter count, the last conv unpooled; then
    Flatten, Dropout, Dense(10, softmax). With the defaults: the report's 80,266 parameters.

    Layers get Keras's default names (conv2d, conv2d_1, ...) so the summary reads like the
    report's, however many models a process builds.
    """
    stack = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1))]
    for i, filters in enumerate(config.filters):
        suffix = f"_{i}" if i else ""
        stack.append(layers.Conv2D(filters, config.kernel_size, activation="relu", name=f"conv2d{suffix}"))
        if i < len(config.filters) - 1:
            stack.append(layers.MaxPooling2D(config.pool_size, name=f"max_pooling2d{suffix}"))
    stack += [
        layers.Flatten(name="flatten"),
        layers.Dropout(config.dropout, name="dropout"),
        layers.Dense(NUM_CLASSES, activation="softmax", name="dense"),
    ]
    return keras.Sequential(stack, name="cnn")


def make_optimizer(config):
    """The configured optimizer; with no learning rate given, Keras's default for it."""
    optimizer_class = OPTIMIZER_CLASSES[config.optimizer]
    if config.learning_rate is None:
        return optimizer_class()
    return optimizer_class(learning_rate=config.learning_rate)


def compile_cnn(config):
    """build_cnn plus compile: categorical cross-entropy and accuracy, as in the report."""
    model = build_cnn(config)
    model.compile(optimizer=make_optimizer(config), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def load_trained_model(path):
    """Load a saved Keras model and check that it reads 28x28x1 images into 10 classes."""
    try:
        model = keras.models.load_model(path)
    except Exception as error:  # Keras raises many kinds of error for a file it cannot read
        raise InputError(f"{path}: not a Keras model ({first_line(error)})") from None
    expected_input, expected_output = (None, IMAGE_SIZE, IMAGE_SIZE, 1), (None, NUM_CLASSES)
    if tuple(model.input_shape) != expected_input or tuple(model.output_shape) != expected_output:
        raise InputError(
            f"{path}: the model maps {tuple(model.input_shape)} to {tuple(model.output_shape)}, "
            f"but MNIST needs {expected_input} to {expected_output}"
        )
    return model


def predict_probabilities(model, inputs):
    """Class probabilities (float64, rows summing to 1) for each input, predicted in batches.

    A model that ends in logits rather than softmax gets a softmax applied, so every
    metric downstream sees probabilities.
    """
    outputs = model.predict(inputs, batch_size=PREDICTION_BATCH_SIZE, verbose=0).astype(np.float64)
    if outputs.min() < 0 or not np.allclose(outputs.sum(axis=1), 1, atol=1e-3):
        outputs = np.asarray(keras.ops.softmax(outputs, axis=1), dtype=np.float64)
    return outputs / outputs.sum(axis=1, keepdims=True)  # float32 rows sum to 1 only within ~1e-7
