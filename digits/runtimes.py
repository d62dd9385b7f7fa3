"""Reading an exported model without TensorFlow: .onnx with ONNX Runtime, .tflite with LiteRT.

Nothing here imports TensorFlow or Keras, so that a process reading with an export starts quickly.
"""

from pathlib import Path

import numpy as np

from digits.config import IMAGE_SIZE, NUM_CLASSES
from digits.errors import InputError, first_line

SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}  # the exports read here, by the runtime that reads them
RUNTIME_NAMES = {"onnx": "ONNX Runtime", "tflite": "LiteRT"}
BATCH_SIZE = 500


def checked_export_file(path, runtime="auto"):
    """An .onnx or .tflite file given to read with: InputError if missing or if `runtime` names another runtime."""
    path = Path(path)
    kind = SUFFIXES.get(path.suffix)
    if kind is None:
        raise InputError(f"{path}: expected an exported .onnx or .tflite model")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if runtime not in ("auto", kind):
        raise InputError(f"{path}: a {path.suffix} export is read with {RUNTIME_NAMES[kind]}, not with --runtime "
                         f"{runtime}; leave out --runtime, or give the run folder")
    return path


class ExportedModel:
    """An exported .onnx or .tflite model, read with ONNX Runtime or LiteRT."""

    def __init__(self, path):
        self.path = checked_export_file(path)
        self.kind = SUFFIXES[self.path.suffix]
        try:
            self.read_batch = onnx_reader(self.path) if self.kind == "onnx" else tflite_reader(self.path)
        except InputError:
            raise
        except Exception as error:  # each runtime raises its own kinds of error for a file it cannot read
            raise InputError(f"{self.path}: not a model {RUNTIME_NAMES[self.kind]} can read ({first_line(error)})") from None

    @property
    def runtime(self):
        return RUNTIME_NAMES[self.kind]

    def probabilities(self, inputs):
        """Probabilities of inputs (N, 28, 28, 1) scaled as digits.data.to_inputs does (see read_in_batches)."""
        return read_in_batches(self.read_batch, inputs)


def read_in_batches(read_batch, inputs):
    """`read_batch` over inputs (N, 28, 28, 1), BATCH_SIZE at a time: float64 probabilities (N, 10), each row
    renormalised to sum to 1, as digits.model.predict_probabilities does (an int8 softmax comes in steps of 1/256)."""
    inputs = np.asarray(inputs, dtype=np.float32)
    outputs = np.concatenate([read_batch(inputs[start:start + BATCH_SIZE])
                              for start in range(0, len(inputs), BATCH_SIZE)]).astype(np.float64)
    return outputs / outputs.sum(axis=1, keepdims=True)


def onnx_reader(path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    (given,), (output,) = session.get_inputs(), session.get_outputs()
    check_shapes(path, given.shape, output.shape, given.type == "tensor(float)")
    return lambda batch: session.run([output.name], {given.name: batch})[0]


def tflite_reader(path):
    """A LiteRT interpreter without its default XNNPACK delegate, which prints a line on stderr at every start."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    (given,), (output,) = interpreter.get_input_details(), interpreter.get_output_details()
    check_shapes(path, list(given["shape_signature"]), list(output["shape_signature"]), given["dtype"] == np.float32)

    def read(batch):
        interpreter.resize_tensor_input(given["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(given["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(output["index"])

    return read


def check_shapes(path, input_shape, output_shape, float_input):
    """Refuse a model that does not read float (N, 28, 28, 1) into (N, 10); a batch axis of any name or size."""
    if not float_input or list(input_shape[1:]) != [IMAGE_SIZE, IMAGE_SIZE, 1] or list(output_shape[1:]) != [NUM_CLASSES]:
        raise InputError(f"{path}: the model maps {input_shape} to {output_shape}, but MNIST needs float "
                         f"(N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) to (N, {NUM_CLASSES})")
