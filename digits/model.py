"""The report's convolutional network, built and compiled from a RunConfig."""

import keras
from keras import layers

from digits.config import IMAGE_SIZE, NUM_CLASSES

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
