"""A run's exports, RUN/export/: their files, export.json, and whether an export still stands for its run.

export.json records the SHA-256 of the model file exported, the temperature applied inside every
export, and each export's file and SHA-256. An export is fresh while all three still match: only a
fresh export stands in for its run's Keras model (`--runtime auto`). Nothing here imports TensorFlow.
"""

from pathlib import Path

from digits.errors import InputError
from digits.files import read_json, sha256_of
from digits.run_folder import temperature_of

EXPORT_FOLDER = "export"  # a run's exports: RUN/export/
EXPORT_JSON = "export.json"
FILES = {"savedmodel": "saved_model", "onnx": "model.onnx", "tflite": "model.tflite", "tflite-int8": "model_int8.tflite"}
RUNTIMES = ("auto", "keras", "onnx", "tflite")  # auto: a fresh model.onnx, else model.tflite, else Keras


def read_record(folder):
    """The export.json in `folder`, or None where there is none; InputError, naming it, if it cannot be read."""
    path = Path(folder) / EXPORT_JSON
    if not path.is_file():
        return None
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("formats"), dict):
        raise InputError(f"{path}: not an export record (no \"formats\"); export again with export_model.py")
    return record


def new_record(out, model_file, temperature, data, keras_accuracy):
    """export.json's record for exporting `model_file` with `temperature` into `out`: the one there if it
    describes this model file and temperature (its formats' entries kept), else one with no formats yet."""
    sha256 = sha256_of(model_file)
    record = read_record(out)
    same = record is not None and (record.get("model_sha256"), record.get("temperature")) == (sha256, temperature)
    return {
        "model": str(model_file), "model_sha256": sha256, "temperature": temperature,
        "calibration": ("none: the run has no temperature; exported as it is" if temperature is None else
                        "softmax(logits / T) inside every export: the probabilities predict and evaluate.py read"),
        "data": data,
        "keras_accuracy": keras_accuracy,
        "formats": record["formats"] if same else {},
    }


def describes(record, path):
    """Whether export.json's `record` names the export file `path` with its current SHA-256."""
    path = Path(path)
    entries = record["formats"].values() if record else ()
    return path.is_file() and any(entry.get("file") == path.name and entry.get("sha256") == sha256_of(path)
                                  for entry in entries)


def applied_temperature(path):
    """(whether export.json beside the export file `path` describes it, the temperature inside it or None)."""
    record = read_record(Path(path).parent)
    return (True, record.get("temperature")) if describes(record, path) else (False, None)


def fresh_export(model_file, runtime):
    """The export to read the Keras model `model_file` with under `runtime`, or None to read it with Keras.

    auto: the run's fresh model.onnx, else its fresh model.tflite, else None; onnx or tflite: that
    fresh export, else InputError saying how to make it; keras: None.
    """
    if runtime == "keras":
        return None
    model_file = Path(model_file)
    folder = model_file.parent / EXPORT_FOLDER
    record = read_record(folder)
    fresh = (record is not None and record.get("model_sha256") == sha256_of(model_file)
             and record.get("temperature") == temperature_of(model_file))
    for kind in ("onnx", "tflite") if runtime == "auto" else (runtime,):
        if fresh and describes(record, folder / FILES[kind]):
            return folder / FILES[kind]
    if runtime == "auto":
        return None
    why = "none was made" if record is None else "it is missing or no longer matches the run's model"
    raise InputError(f"{folder / FILES[runtime]}: no fresh export to read with --runtime {runtime} ({why}); "
                     f"make it with: python export_model.py {model_file.parent} --format {runtime}")
