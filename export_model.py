"""Export a model to SavedModel, ONNX, TFLite and int8 TFLite, each checked.

A calibrated run is exported with its temperature inside the graph; an export
that does not read the test images as the Keras model does is not written
(exit code 1). docs/export.md says more.

    python export_model.py models/cnn                # all, into RUN/export/
    python export_model.py models/cnn --format onnx  # one format
    python export_model.py models/cnn/model.h5 --format tflite-int8 --out exp/
"""

from pathlib import Path

from digits import cli
from digits.data import data_source, load_dataset, to_inputs
from digits.export_folder import EXPORT_FOLDER, EXPORT_JSON, FILES, new_record
from digits.files import check_model_format, write_json
from digits.run_folder import find_model_file, saved_data_path

FORMATS = tuple(FILES)


def build_parser():
    parser = cli.ArgumentParser(description=__doc__)
    parser.add_argument("run", metavar="RUN", help="a run folder (its model.keras, else model.h5) or a .keras/.h5 model")
    parser.add_argument("--format", action="append", choices=(*FORMATS, "all"),
                        help="what to export, again for more (default: all)")
    parser.add_argument("--out", metavar="DIR", help=f"folder for the exports and {EXPORT_JSON} (default: RUN/{EXPORT_FOLDER}/)")
    cli.add_data_arguments(parser, limit=False)
    return parser


def chosen_formats(given):
    """The formats asked for, in FORMATS' order; all of them when none or 'all' is given."""
    return FORMATS if not given or "all" in given else tuple(kind for kind in FORMATS if kind in given)


def main(argv=None):
    args = build_parser().parse_args(argv)
    kinds = chosen_formats(args.format)
    model_file = find_model_file(args.run)  # a wrong path, or a file cut short, answers before TensorFlow loads
    check_model_format(model_file)
    out = Path(args.out) if args.out else model_file.parent / EXPORT_FOLDER
    dataset = load_dataset(data_source(args.data, saved=saved_data_path(model_file.parent)))

    # TensorFlow loads only now, so that --help and bad arguments answer at once.
    from digits import export
    from digits.ensemble import Ensemble
    from digits.hardware import provenance

    ensemble = Ensemble([model_file])
    member = ensemble.members[0]
    temperature = member.temperature
    model = export.calibrated_model(member.model, temperature, model_file)
    inputs, labels = to_inputs(dataset.test_images), dataset.test_labels
    reference = ensemble.probabilities(inputs)[1]  # as predict reads the Keras model
    keras_accuracy = float((reference.argmax(axis=1) == labels).mean())

    how = "exported as it is" if temperature is None else "exported with it applied: softmax(logits / T)"
    print(f"Model {model_file}: {member.describe_temperature()}; {how}")
    print(f"Data: {len(labels):,} test images from {dataset.source}")
    if "tflite-int8" in kinds:
        print(f"int8 ranges measured on the first {export.REPRESENTATIVE_IMAGES:,} training images")
    print(f"Keras model: test accuracy {keras_accuracy:.2%}\n")

    data = {"source": dataset.source, "test": dataset.fingerprint()["test"]}
    record = new_record(out, model_file, temperature, data, keras_accuracy)
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
