"""Exporting a trained model to SavedModel, TFLite (float32 and int8) and ONNX, each checked against Keras.

Each export, still under its temporary name, reads the test images with the runtime that will read it
and is compared with the Keras model as digits.ensemble reads it; one that fails its check is not
written. docs/export.md describes the formats, the check and export.json.
"""

from contextlib import contextmanager
import hashlib
from importlib.metadata import version
import os
from pathlib import Path
import re
import sys
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from digits.data import to_inputs
from digits.errors import InputError
from digits.export_folder import FILES
from digits.files import atomic_folder, atomic_path, sha256_of
from digits.runtimes import ExportedModel, read_in_batches

FORMATS = ("savedmodel", "onnx", "tflite", "tflite-int8")
REPRESENTATIVE_IMAGES = 500
FLOAT_TOLERANCE = 1e-4  # a float export differs from Keras by rounding only; more means a wrong graph
INT8_MAX_DROP = 0.01  # one percentage point of test accuracy


class CheckFailed(Exception):
    """An export that does not read as the Keras model does; `check` holds the figures."""

    def __init__(self, message, check):
        super().__init__(message)
        self.check = check


def calibrated_model(model, temperature, model_file):
    """The model to export: `model` itself without a temperature, else one that outputs softmax(logits / T).

    softmax(z / T) for p = softmax(z) equals softmax(log(p) / T): the same T and the same probabilities
    as digits.calibration.calibrated, computed in the graph on logits, which int8 holds where it could not
    hold log(p) near 0. The layers are the model's own, the last Dense's weights copied into one without
    softmax. InputError, naming the file, for a model that does not end in a Dense softmax layer.
    """
    if temperature is None or temperature == 1:
        return model
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense) or last.get_config()["activation"] != "softmax":
        raise InputError(f"{model_file}: a temperature can be exported only into a model that ends in a Dense "
                         f"softmax layer (its last layer is {type(last).__name__})")
    features = keras.Model(model.inputs, last.input)
    logits = keras.layers.Dense(last.units, name="logits")
    scaled = keras.layers.Rescaling(1.0 / temperature, name="temperature")
    inputs = keras.Input(model.input_shape[1:])
    outputs = keras.layers.Softmax(name="calibrated")(scaled(logits(features(inputs))))
    logits.set_weights(last.get_weights())
    return keras.Model(inputs, outputs, name=f"{model.name}_calibrated")


def export_savedmodel(model, path, representative=None):
    model.export(str(path), format="tf_saved_model", verbose=False)


def export_onnx(model, path, representative=None):
    model(np.zeros((1, *model.input_shape[1:]), np.float32))  # Keras exports to ONNX only a model called before
    with warnings.catch_warnings():  # Keras's tf2onnx shim probes np.object, which NumPy 2 warns about
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False)


def export_tflite(model, path, representative=None):
    """Float32 .tflite, or with `representative` (training images, N x 28 x 28 x 1) full-integer int8."""
    with tempfile.TemporaryDirectory() as folder:
        export_savedmodel(model, Path(folder) / "saved_model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(folder) / "saved_model"))
        if representative is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([image[None]] for image in representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with converter_notice_dropped():
            converted = converter.convert()
        Path(path).write_bytes(converted)


# What TensorFlow's C++ converter prints straight to the process's stderr on every quantized
# conversion: its settings, not a problem.
CONVERTER_NOTICE = re.compile(rb"^fully_quantize: \d+, inference_type: ")


@contextmanager
def converter_notice_dropped():
    """Keep the converter's settings notice off stderr, passing on everything else it writes.

    The converter writes to file descriptor 2 from C++, which neither Python's logging nor
    TF_CPP_MIN_LOG_LEVEL reaches: fd 2 goes to a temporary file meanwhile, and is restored after.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(keepends=True) if not CONVERTER_NOTICE.match(line)]
            if kept:
                os.write(2, b"".join(kept))


EXPORTERS = {"savedmodel": export_savedmodel, "onnx": export_onnx, "tflite": export_tflite, "tflite-int8": export_tflite}


def read_saved_model(path, inputs):
    """Probabilities of `inputs` by a SavedModel's `serve` endpoint, read as digits.runtimes reads an export."""
    loaded = tf.saved_model.load(str(path))  # kept while serving: its endpoint refers to its variables
    return read_in_batches(lambda batch: loaded.serve(tf.constant(batch)).numpy(), inputs)


def read_export(kind, path, inputs):
    return read_saved_model(path, inputs) if kind == "savedmodel" else ExportedModel(path).probabilities(inputs)


def compare(probabilities, reference, labels):
    """The check's figures: shares as fractions, the largest difference of a probability."""
    read, expected = probabilities.argmax(axis=1), reference.argmax(axis=1)
    accuracy, keras_accuracy = float(np.mean(read == labels)), float(np.mean(expected == labels))
    return {"images": len(labels), "agreement": float(np.mean(read == expected)),
            "max_abs_difference": float(np.abs(probabilities - reference).max()),
            "accuracy": accuracy, "keras_accuracy": keras_accuracy, "accuracy_drop": keras_accuracy - accuracy}


def failure(kind, check):
    """Why an export's check fails, or None when it passes."""
    if kind == "tflite-int8":
        if check["accuracy_drop"] > INT8_MAX_DROP:
            return f"its test accuracy is {check['accuracy_drop']:.2%} below the Keras model's (at most {INT8_MAX_DROP:.0%})"
    elif check["max_abs_difference"] > FLOAT_TOLERANCE:
        return f"a probability differs from the Keras model's by {check['max_abs_difference']:.2g} (at most {FLOAT_TOLERANCE:g})"
    return None


def versions(kind):
    """What made the export and what read it for the check: {"converter": {...}, "runtime": {...}}."""
    tensorflow = {"tensorflow": tf.__version__}
    if kind == "savedmodel":
        return {"converter": {"keras": keras.__version__, **tensorflow}, "runtime": tensorflow}
    if kind == "onnx":
        return {"converter": {"keras": keras.__version__, "tf2onnx": version("tf2onnx"), "onnx": version("onnx")},
                "runtime": {"onnxruntime": version("onnxruntime")}}
    return {"converter": tensorflow, "runtime": {"ai-edge-litert": version("ai-edge-litert")}}


def size_and_sha256(path):
    """(bytes, SHA-256) of a file, or for a folder of its files: each one's relative path and SHA-256, in order."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size, sha256_of(path)
    files = sorted(file for file in path.rglob("*") if file.is_file())
    listing = "".join(f"{file.relative_to(path).as_posix()} {sha256_of(file)}\n" for file in files)
    return sum(file.stat().st_size for file in files), hashlib.sha256(listing.encode()).hexdigest()


def export_checked(model, kind, out, test_inputs, test_labels, reference, train_images):
    """Export `model` (calibrated_model's) as `kind` into `out`, check it, and only then put it in place.

    reference: the Keras model's calibrated probabilities of test_inputs. Returns the format's entry
    of export.json; raises CheckFailed, writing nothing, when the check fails.
    """
    target = Path(out) / FILES[kind]
    representative = to_inputs(train_images[:REPRESENTATIVE_IMAGES]) if kind == "tflite-int8" else None
    with (atomic_folder if kind == "savedmodel" else atomic_path)(target) as temporary:
        EXPORTERS[kind](model, temporary, representative)
        check = compare(read_export(kind, temporary, test_inputs), reference, test_labels)
        problem = failure(kind, check)
        if problem:
            raise CheckFailed(f"{target}: check failed, not written: {problem}", check)
        size, sha256 = size_and_sha256(temporary)
    entry = {"file": FILES[kind], "bytes": size, "sha256": sha256, **versions(kind), "check": check}
    if representative is not None:
        entry["representative_images"] = len(representative)
    return entry
