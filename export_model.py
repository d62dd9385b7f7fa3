"""Export a trained model to SavedModel, TFLite, int8 TFLite and ONNX, each checked against the Keras model.

    python export_model.py models/cnn                            # every format, into models/cnn/export/
    python export_model.py models/cnn --format onnx              # one format (--format again for more)
    python export_model.py models/cnn/model.h5 --format tflite-int8 --out exports/cnn

Writes into RUN/export/ (or --out): saved_model/ (TensorFlow's SavedModel), model.onnx,
model.tflite (float32) and model_int8.tflite (full-integer int8, its ranges measured on the first
500 training images of the run's data), and export.json. A calibrated run is exported with its
temperature inside the graph, softmax(logits / T), so every export outputs the calibrated
probabilities that predict and evaluate.py read.

Every export is checked before it is put in place: it reads all test images with the runtime that
will read it (tf.saved_model.load, ONNX Runtime, LiteRT) and is compared with the Keras model,
calibrated the same way: the share of digits read the same, the largest difference of a probability,
and both test accuracies (for int8, the accuracy it loses). A float export whose probabilities differ
by more than 1e-4, or an int8 one more than a point less accurate, is not written, and the command
exits with code 1. export.json records, per format, the file, its size and SHA-256, the converter's
and runtime's versions and the check's figures, with the SHA-256 of the model file exported and the
temperature: add_own_digits.py predict and draw read a run with its export while those still match
(see digits/export_folder.py), without loading TensorFlow.
Data: --data, else the data the run was trained on (its run.json), else $MNIST_DATA, else the MNIST
shipped in data/mnist/. Every file is written under a temporary name and renamed into place.
"""

import argparse
from pathlib import Path

from digits import cli
from digits.calibration import calibrated
from digits.data import data_source, load_dataset, to_inputs
from digits.files import write_json
from digits.export_folder import EXPORT_FOLDER, EXPORT_JSON, FILES, read_record, sha256_of
from digits.run_folder import find_model_file, saved_data_path

FORMATS = tuple(FILES)


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", metavar="RUN", help="a run folder (its model.keras, else model.h5) or a .keras/.h5 model")
    parser.add_argument("--format", action="append", choices=(*FORMATS, "all"),
                        help="what to export; give it several times for several (default: all: %(choices)s)")
    parser.add_argument("--out", metavar="DIR", help=f"folder for the exports and {EXPORT_JSON} (default: RUN/{EXPORT_FOLDER}/; "
                        "predict and draw find a run's exports only there)")
    cli.add_data_arguments(parser, limit=False)
    return parser


def chosen_formats(given):
    """The formats asked for, in FORMATS' order; all of them when none or 'all' is given."""
    return FORMATS if not given or "all" in given else tuple(kind for kind in FORMATS if kind in given)


def main(argv=None):
    args = build_parser().parse_args(argv)
    kinds = chosen_formats(args.format)
    model_file = find_model_file(args.run)  # a wrong path answers before TensorFlow loads
    out = Path(args.out) if args.out else model_file.parent / EXPORT_FOLDER
    dataset = load_dataset(data_source(args.data, saved=saved_data_path(model_file.parent)))

    # TensorFlow loads only now, so that --help and bad arguments answer at once.
    from digits import export
    from digits.ensemble import load_member
    from digits.hardware import provenance

    member = load_member(model_file)
    temperature = member.temperature
    model = export.calibrated_model(member.model, temperature, model_file)
    inputs, labels = to_inputs(dataset.test_images), dataset.test_labels
    reference = calibrated(member.read(inputs), member.applied_temperature)  # as digits.ensemble reads it
    keras_accuracy = float((reference.argmax(axis=1) == labels).mean())

    how = "exported as it is" if temperature is None else "exported with it applied: softmax(logits / T)"
    print(f"Model {model_file}: {member.describe_temperature()}; {how}")
    print(f"Data: {len(labels):,} test images from {dataset.source}")
    if "tflite-int8" in kinds:
        print(f"int8 ranges measured on the first {export.REPRESENTATIVE_IMAGES:,} training images")
    print(f"Keras model: test accuracy {keras_accuracy:.2%}\n")

    record = export_record(out, model_file, temperature, dataset, keras_accuracy)
    width = max(len(shown(out, kind)) for kind in kinds)
    print(f"{'format':<12} {'file':<{width}} {'size':>9} {'agree':>8} {'max |dp|':>9} {'accuracy':>9}", flush=True)
    failed = 0
    for kind in kinds:
        try:
            entry = export.export_checked(model, kind, out, inputs, labels, reference, dataset.train_images)
        except export.CheckFailed as error:
            print(f"{kind:<12} {error}", flush=True)
            failed += 1
            continue
        record["formats"][kind] = entry
        record["provenance"] = provenance()
        write_json(out / EXPORT_JSON, record)  # after each export, so it always describes the files in place
        print(row(kind, shown(out, kind), width, entry), flush=True)
    print(f"\nChecked on all {len(labels):,} test images against the Keras model"
          f"{'' if temperature is None else f' calibrated with T = {temperature:.3f}'}: agree = share of digits "
          "read the same, max |dp| = largest difference of a probability.")
    print(f"Wrote {out / EXPORT_JSON}" + (f"; {failed} export(s) failed their check and were not written" if failed else ""))
    return 1 if failed else 0


def export_record(out, model_file, temperature, dataset, keras_accuracy):
    """export.json's record: the one in `out` if it describes this model file and temperature (its other
    formats' entries kept), else a new one."""
    sha256 = sha256_of(model_file)
    record = read_record(out)
    formats = record["formats"] if record and (record.get("model_sha256"), record.get("temperature")) == (
        sha256, temperature) else {}
    return {
        "model": str(model_file), "model_sha256": sha256, "temperature": temperature,
        "calibration": ("none: the run has no temperature; exported as it is" if temperature is None else
                        "softmax(logits / T) inside every export: the probabilities predict and evaluate.py read"),
        "data": {"source": dataset.source, "test": dataset.fingerprint()["test"]},
        "keras_accuracy": keras_accuracy,
        "formats": formats,
    }


def shown(out, kind):
    return f"{out / FILES[kind]}{'/' if kind == 'savedmodel' else ''}"


def row(kind, path, width, entry):
    check = entry["check"]
    line = (f"{kind:<12} {path:<{width}} {entry['bytes'] / 1000:>6,.0f} kB {check['agreement']:>8.2%} "
            f"{check['max_abs_difference']:>9.1e} {check['accuracy']:>9.2%}")
    if kind == "tflite-int8":
        line += f"  (accuracy drop: {check['accuracy_drop'] * 100:.2f} points)"
    return line


if __name__ == "__main__":
    cli.run(main)
