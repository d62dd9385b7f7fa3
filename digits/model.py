"""The report's convolutional network, built and compiled from a RunConfig."""

import contextlib
import inspect
import logging
from pathlib import Path

import keras
from keras import layers
import numpy as np

from digits.config import IMAGE_SIZE, NUM_CLASSES
from digits.errors import InputError, first_line
from digits.files import atomic_path, check_model_format

PREDICTION_BATCH_SIZE = 500  # prediction only: bigger batches are faster and give the same numbers
# Training steps run per call into TensorFlow. It saves the per-step Python overhead that
# weighs heavily on so small a network, and learns bit for bit the same weights as 1;
# callbacks and the per-epoch log are unaffected.
STEPS_PER_EXECUTION = 32

# Keras's default of 0.99 lets the moving variance, which starts at 1 while a conv layer's
# outputs vary by about 0.005 here, take thousands of steps to settle: a short run (the fast
# recipe's, a test's) then reads its test images with the wrong statistics. PyTorch's 0.9
# settles within a hundred steps.
BATCH_NORM_MOMENTUM = 0.9

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


def build_cnn(config, policy="float32"):
    """Conv2D(relu) -> MaxPooling2D for each filter count, the last conv unpooled; then
    Flatten, Dropout, Dense(10, softmax). With the defaults: the report's 80,266 parameters.
    With config.batch_norm each convolution is Conv2D (no bias) -> BatchNormalization -> ReLU.

    `policy` is a Keras dtype policy such as "mixed_bfloat16"; the Dense layer and its
    softmax stay float32 under any policy, so the probabilities and the loss keep full
    precision. Layers get Keras's default names (conv2d, conv2d_1, ...) so the summary
    reads like the report's, however many models a process builds.
    """
    stack = [keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 1))]
    for i, filters in enumerate(config.filters):
        suffix = f"_{i}" if i else ""
        if config.batch_norm:
            stack += [
                layers.Conv2D(filters, config.kernel_size, use_bias=False, name=f"conv2d{suffix}", dtype=policy),
                layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, name=f"batch_normalization{suffix}", dtype=policy),
                layers.ReLU(name=f"re_lu{suffix}", dtype=policy),
            ]
        else:
            stack.append(layers.Conv2D(filters, config.kernel_size, activation="relu", name=f"conv2d{suffix}", dtype=policy))
        if i < len(config.filters) - 1:
            stack.append(layers.MaxPooling2D(config.pool_size, name=f"max_pooling2d{suffix}", dtype=policy))
    stack += [
        layers.Flatten(name="flatten", dtype=policy),
        layers.Dropout(config.dropout, name="dropout", dtype=policy),
        layers.Dense(NUM_CLASSES, activation="softmax", name="dense", dtype="float32"),
    ]
    return keras.Sequential(stack, name="cnn")


def peak_learning_rate(config):
    """The learning rate the config asks for, else the optimizer's Keras default (0.001 for adam
    and rmsprop, 0.01 for sgd); the cosine schedule's highest rate."""
    if config.learning_rate is not None:
        return config.learning_rate
    return inspect.signature(OPTIMIZER_CLASSES[config.optimizer]).parameters["learning_rate"].default


def learning_rate_schedule(config, steps_per_epoch):
    """The learning rate as the optimizer takes it: a number, or for the cosine schedule a linear
    warmup from zero over config.warmup_epochs, then a cosine decay to zero at the last step."""
    peak = peak_learning_rate(config)
    if config.schedule == "constant":
        return peak
    if not steps_per_epoch:
        raise ValueError("the cosine schedule needs the number of steps per epoch")
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(peak, decay_steps=total)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup, warmup_target=peak,
                                                  warmup_steps=warmup)


def make_optimizer(config, steps_per_epoch=None):
    """The configured optimizer with its learning rate or schedule (`steps_per_epoch` is needed for a schedule)."""
    return OPTIMIZER_CLASSES[config.optimizer](learning_rate=learning_rate_schedule(config, steps_per_epoch))


@keras.saving.register_keras_serializable(package="digits")
class DigitAccuracy(keras.metrics.Mean):
    """Accuracy over the digits of a batch only: under outlier exposure (digits.exposure) a batch
    also holds outliers, whose uniform target names no digit."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        right = keras.ops.argmax(y_true, axis=-1) == keras.ops.argmax(y_pred, axis=-1)
        is_digit = keras.ops.max(y_true, axis=-1) > 0.5
        return super().update_state(keras.ops.cast(right, "float32"), sample_weight=keras.ops.cast(is_digit, "float32"))


def compile_model(model, config, optimizer):
    """Compile `model` the one way every model here is compiled: categorical cross-entropy
    (label-smoothed if the config says) and accuracy, as in the report; of the digits only
    under outlier exposure."""
    loss = ("categorical_crossentropy" if not config.label_smoothing
            else keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing))
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=[DigitAccuracy(name="accuracy") if config.outlier_exposure else "accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
        jit_compile={"auto": "auto", "on": True, "off": False}[config.xla],
    )
    return model


def new_model(config, steps_per_epoch=None, policy="float32"):
    """The one way a model to train is made: build_cnn in the dtype policy `policy`, compiled with the
    configured optimizer (`steps_per_epoch` sets the length of a learning-rate schedule)."""
    return compile_model(build_cnn(config, policy), config, make_optimizer(config, steps_per_epoch))


def as_float32(model, config):
    """The trained model in float32: the same weights and optimizer state (mixed precision
    keeps both in float32) in a model that any machine runs at full speed and precision.
    This is the model that gets tested and saved, and that fine-tuning continues."""
    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model
    trained = getattr(model.optimizer, "inner_optimizer", model.optimizer)  # float16 wraps it in loss scaling
    plain = compile_model(build_cnn(config), config, type(trained).from_config(trained.get_config()))
    plain.set_weights(model.get_weights())
    plain.optimizer.build(plain.trainable_variables)
    for target, source in zip(plain.optimizer.variables, trained.variables, strict=True):
        target.assign(source)
    return plain


def load_trained_model(path):
    """Load a saved Keras model and check that it reads 28x28x1 images into 10 classes."""
    path = Path(path)
    check_model_format(path)
    try:
        with quiet_absl():  # "Compiled the loaded model, but the compiled metrics have yet to be built"
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


@contextlib.contextmanager
def quiet_absl():
    """Keep Keras's absl warnings about saving and loading quiet: that HDF5 is a legacy format
    (the report saved in it), and that a loaded model's metrics are built only when it is
    trained or evaluated (which is how Keras works, not a problem of the model)."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        yield
    finally:
        absl.setLevel(level)


def save_model(model, path):
    """Save `model` to `path` (.keras or .h5) atomically."""
    with quiet_absl(), atomic_path(path) as temporary:
        model.save(temporary)


def layer_detail(kind, config):
    """The settings that define a layer of the kinds the report's network uses, in words."""
    if kind == "Conv2D":
        return f"{config['filters']} filters {'x'.join(map(str, config['kernel_size']))}, {config['activation']}"
    if kind == "MaxPooling2D":
        return f"{'x'.join(map(str, config['pool_size']))} max"
    if kind == "Dropout":
        return f"rate {config['rate']:g}, training only"
    if kind == "BatchNormalization":
        return "per filter"
    if kind == "Dense":
        return f"{config['units']} units, {config['activation']}"
    return ""


def layer_table(model):
    """The model's layers for the network figure, input first:
    [{"name", "kind", "detail", "shape", "parameters"}], shapes without the batch axis."""
    rows = [{"name": "input", "kind": "Input", "detail": "", "shape": tuple(model.inputs[0].shape[1:]), "parameters": 0}]
    for layer in model.layers:
        kind = type(layer).__name__
        rows.append({
            "name": layer.name,
            "kind": kind,
            "detail": layer_detail(kind, layer.get_config()),
            "shape": tuple(layer.output.shape[1:]),
            "parameters": layer.count_params(),
        })
    return rows


def predict_probabilities(model, inputs):
    """Class probabilities (float64, rows summing to 1) for each input, predicted in batches.

    A model that ends in logits rather than softmax gets a softmax applied, so every
    metric downstream sees probabilities.
    """
    outputs = model.predict(inputs, batch_size=PREDICTION_BATCH_SIZE, verbose=0).astype(np.float64)
    if outputs.min() < 0 or not np.allclose(outputs.sum(axis=1), 1, atol=1e-3):
        outputs = np.asarray(keras.ops.softmax(outputs, axis=1), dtype=np.float64)
    return outputs / outputs.sum(axis=1, keepdims=True)  # float32 rows sum to 1 only within ~1e-7
