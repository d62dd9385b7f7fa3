"""A run's exports, RUN/export/: their files, export.json, and whether they still stand for the run.

export_model.py writes a run's exports into RUN/export/ (FILES) with export.json, which records
the SHA-256 of the model file exported, the temperature applied and each export's SHA-256. An
export's graph outputs calibrated probabilities, its run's temperature inside (digits.export), so
whoever reads it must not apply that temperature again.

An export is fresh while its export.json still describes it: the run's model file has the SHA-256
exported, its run.json the temperature exported, and the export file its recorded SHA-256. Only a
fresh export stands in for its run's Keras model (`--runtime auto`, the default of predict and the
draw page): retrain, fine-tune or recalibrate the run and it is read with Keras again until
exported anew. Nothing here imports TensorFlow.
"""

import hashlib
from pathlib import Path

from digits.errors import InputError
from digits.files import read_json
from digits.run_folder import temperature_of

EXPORT_FOLDER = "export"  # a run's exports: RUN/export/
EXPORT_JSON = "export.json"
FILES = {"savedmodel": "saved_model", "onnx": "model.onnx", "tflite": "model.tflite", "tflite-int8": "model_int8.tflite"}
RUNTIMES = ("auto", "keras", "onnx", "tflite")  # auto: a fresh model.onnx, else model.tflite, else Keras


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(folder):
    """The export.json in `folder`, or None where there is none; InputError, naming it, if it cannot be read."""
    path = Path(folder) / EXPORT_JSON
    if not path.is_file():
        return None
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("formats"), dict):
        raise InputError(f"{path}: not an export record (no \"formats\"); export again with export_model.py")
    return record


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
        path = folder / FILES[kind]
        entry = record["formats"].get(kind) if fresh else None
        if entry and path.is_file() and entry.get("sha256") == sha256_of(path):
            return path
    if runtime == "auto":
        return None
    why = "none was made" if record is None else "it is missing or no longer matches the run's model"
    raise InputError(f"{folder / FILES[runtime]}: no fresh export to read with --runtime {runtime} ({why}); "
                     f"make it with: python export_model.py {model_file.parent} --format {runtime}")
