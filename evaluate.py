"""Evaluate saved models on MNIST's test set: the report's section 4.

Prints the classification report, loss, accuracy, ROC AUCs and calibration of
each model (several: each alone and their ensemble), draws the report's figures
and saves evaluation.json (docs/evaluation.md).

    python evaluate.py models/cnn                   # a run of train_cnn.py
    python evaluate.py models/cnn/model.h5 --data ~/mnist.npz --format pdf
    python evaluate.py models/cnn models/cnn-seed2  # each, and their ensemble
    python evaluate.py models/cnn --tta             # test-time augmentation
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digits import cli
from digits.data import data_source, load_dataset, to_inputs
from digits.errors import InputError
from digits.files import check_model_format, write_json, write_text
from digits.hardware import provenance
from digits.run_folder import ensemble_folder, saved_data_path


def build_parser():
    parser = cli.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", metavar="RUN",
                        help="a run folder or a .keras/.h5 file; several: each alone and their ensemble")
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average over shifted and rotated copies of each image")
    cli.add_data_arguments(parser, limit=False)
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR",
                        help="folder for evaluation.json (default: the run's folder, or ensemble-<run>+<run>...)")
    output.add_argument("--figures", metavar="DIR", help="folder for the figures (default: --out's figures/)")
    output.add_argument("--format", choices=("png", "pdf"), default="png", help="figure file format (default: %(default)s)")
    return parser


@dataclass
class Reading:
    """One row of the calibration table: a model or the ensemble, without or with test-time augmentation."""

    name: str
    temperature: float | list | None  # a model's (None: it has none), or each model's for the ensemble
    uncalibrated: np.ndarray
    calibrated: np.ndarray  # the probabilities read with
    tta: bool


def main(argv=None):
    args = build_parser().parse_args(argv)

    from digits.ensemble import Ensemble, distinct_model_files

    # The paths, the model files' formats and the data are checked before TensorFlow loads (with the
    # models), so bad ones answer at once, a bad model first; scikit-learn loads only with the metrics.
    model_files = distinct_model_files(args.models)
    out = output_folder(args.out, model_files)
    data = evaluation_data(args.data, model_files)
    for model_file in model_files:
        check_model_format(model_file)
    dataset = load_dataset(data)
    ensemble = Ensemble(model_files)
    x_test, y_test = dataset.test_images, dataset.test_labels
    readings = readings_of(ensemble, ensemble.read_copies(to_inputs(x_test), tta=args.tta), args.tta)
    final = readings[-1]  # the one model, or the ensemble; with TTA when asked

    from digits.calibration import expected_calibration_error, reliability
    from digits.metrics import calibration_scores, metrics_of

    numbers, classification_text, roc, pr = metrics_of(y_test, final.calibrated)
    rows = [{"reading": reading.name, "tta": reading.tta, "temperature": reading.temperature,
             **calibration_scores(y_test, reading.uncalibrated, reading.calibrated)} for reading in readings]

    print_models(ensemble)
    print(f"Data: {len(x_test):,} test images from {dataset.source}\n")
    print_scores(classification_text, numbers)
    print_calibration(rows, len(x_test))
    refusals = not_a_digit_on(ensemble, to_inputs(x_test), y_test, final.calibrated)

    bins = {"before": reliability(y_test, final.uncalibrated), "after": reliability(y_test, final.calibrated)}
    ece = {"before": expected_calibration_error(y_test, final.uncalibrated),
           "after": expected_calibration_error(y_test, final.calibrated)}
    figures_folder = Path(args.figures or out / "figures")
    title_name = reader_name(ensemble, args.tta)
    figures = save_figures(ensemble, title_name, dataset, final.calibrated, (numbers, roc, pr), figures_folder,
                           args.format)
    figures.append(save_reliability(ensemble, title_name, len(x_test), bins, ece, figures_folder, args.format))
    record = {
        "model": ensemble.name,
        "models": [{"model": str(member.model_file), "temperature": member.temperature} for member in ensemble.members],
        "ensemble": "the mean of the models' calibrated probabilities" if len(ensemble.members) > 1 else None,
        "test_time_augmentation": tta_record() if args.tta else None,
        "data": dataset.fingerprint(),
        **numbers,
        "calibration": rows,
        "not_a_digit": refusals,
        "reliability": {when: {key: np.asarray(values).tolist() for key, values in table.items()}
                        for when, table in bins.items()},
        "figures": [str(path) for path in figures],
        "provenance": provenance(),
    }
    write_text(out / "classification_report.txt", classification_text)
    write_json(out / "evaluation.json", record)
    print(f"\nSaved {out / 'evaluation.json'} and classification_report.txt; figures in {figures_folder}/")
    return 0


def output_folder(out, model_files):
    """Where evaluation.json and classification_report.txt go: --out, else one model's run folder, else a
    folder named for the ensemble beside the first run. An ensemble never writes into a member's run folder."""

    several = len(model_files) > 1
    if out is None:
        if not several:
            return model_files[0].parent
        return ensemble_folder(model_files)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: a file, not a folder")
    member_folder = next((file for file in model_files if file.parent.resolve() == out.resolve()), None)
    if several and member_folder is not None:
        raise InputError(f"--out {out} holds {member_folder.name}, one of the ensemble's models: the ensemble's "
                         "evaluation would replace that run's own; choose another --out")
    return out


def evaluation_data(given, model_files):
    """--data, else the data the runs were trained on, which must be the same for all, else
    $MNIST_DATA, else the shipped MNIST."""
    if given:
        return data_source(given)
    saved = {data_source(None, saved=saved_data_path(file.parent)) for file in model_files}
    if len(saved) > 1:
        raise InputError(f"the runs were trained on different data ({', '.join(sorted(saved))}): "
                         "name the test data with --data")
    return saved.pop()


def readings_of(ensemble, copies, tta):
    """The table's rows: each model and (with several) the ensemble, without and (with --tta) with
    test-time augmentation. The last row is the reading evaluated in full."""
    from digits.ensemble import combine

    members = ensemble.members
    variants = [(False, [read[:1] for read in copies])] + ([(True, copies)] if tta else [])
    readings = []
    for with_tta, reads in variants:
        uncalibrated, uncalibrated_mean = combine(reads, [1.0] * len(members))
        calibrated, calibrated_mean = combine(reads, ensemble.temperatures())
        suffix = " + TTA" if with_tta else ""
        for member, before, after in zip(members, uncalibrated, calibrated):
            readings.append(Reading(member.name + suffix, member.temperature, before, after, with_tta))
        if len(members) > 1:
            readings.append(Reading(f"ensemble of {len(members)}{suffix}", [member.temperature for member in members],
                                    uncalibrated_mean, calibrated_mean, with_tta))
    return readings


def reader_name(ensemble, tta):
    """The models as figure titles name them: 'cnn/model.keras' or 'ensemble of 2 (cnn-seed1, cnn-seed2)'."""
    members = ensemble.members
    name = (f"{members[0].model_file.parent.name}/{members[0].model_file.name}" if len(members) == 1
            else f"ensemble of {len(members)} ({', '.join(member.name for member in members)})")
    return f"{name} with test-time augmentation" if tta else name


def tta_record():
    from digits.ensemble import TTA_COPIES

    return [{"rows_down": rows, "columns_right": columns, "degrees_anticlockwise": degrees}
            for rows, columns, degrees in TTA_COPIES]


def print_models(ensemble):
    for member in ensemble.members:
        print(f"Model: {member.model_file} ({member.model.count_params():,} parameters), {member.describe_temperature()}")
    if len(ensemble.members) > 1:
        print(f"Ensemble: the mean of the {len(ensemble.members)} models' calibrated probabilities")


def print_scores(classification_text, numbers):
    test = numbers["test"]
    print(classification_text)
    print(f"Test loss {test['loss']:.4f}, accuracy {test['accuracy']:.2%}, top-2 accuracy {test['top2_accuracy']:.2%}, "
          f"{test['errors']} errors in {test['images']:,} images")
    per_class = "  ".join(f"{digit}: {numbers['roc_auc'][str(digit)]:.5f}" for digit in range(10))
    print(f"ROC AUC per digit  {per_class}")
    print(f"ROC AUC micro-average {numbers['roc_auc']['micro']:.6f}, macro-average {numbers['roc_auc']['macro']:.6f}; "
          f"average precision micro-average {numbers['average_precision']['micro']:.6f}")


def not_a_digit_on(ensemble, inputs, labels, probabilities):
    """How many test digits the models' not-a-digit verdict refuses, and the accuracy on those it keeps
    (digits.not_a_digit), printed and returned for evaluation.json; why there is none, where there is none."""
    try:
        _, looks_like_a_digit = ensemble.digit_verdicts(inputs)
    except InputError as error:
        print(f"\nNo not-a-digit verdict: {error}")
        return {"unavailable": str(error)}
    kept = looks_like_a_digit.astype(bool)
    right = probabilities.argmax(axis=1) == labels
    refusals = {"refused": int((~kept).sum()), "images": len(labels), "share_refused": float(np.mean(~kept)),
                "accuracy_on_kept": float(right[kept].mean()) if kept.any() else None}
    kept_accuracy = "none kept" if refusals["accuracy_on_kept"] is None else f"{refusals['accuracy_on_kept']:.2%}"
    print(f"\nNot a digit: {refusals['refused']:,} of the {len(labels):,} test digits refused "
          f"({refusals['share_refused']:.2%}); accuracy on the rest {kept_accuracy}, on all {right.mean():.2%}")
    return refusals


def print_calibration(rows, images):
    """The calibration table: each reading's accuracy, errors, NLL and ECE before and after its temperature."""
    width = max(len("reading"), *(len(row["reading"]) for row in rows))
    print(f"\nCalibration on {images:,} test images (temperatures fitted on each run's validation slice; "
          "none: read uncalibrated)")
    print(f"{'reading':<{width}}  accuracy  errors  NLL before  NLL after  ECE before  ECE after  temperature")
    for row in rows:
        before, after = row["before"], row["after"]
        print(f"{row['reading']:<{width}}  {row['accuracy']:>8.2%}  {row['errors']:>6,}  {before['nll']:>10.4f}  "
              f"{after['nll']:>9.4f}  {before['ece']:>10.2%}  {after['ece']:>9.2%}  {shown(row['temperature'])}")


def shown(temperature):
    """A temperature as the table shows it: '1.310', 'none', or for an ensemble 'each its own'."""
    if isinstance(temperature, list):
        return "each its own" if any(value is not None for value in temperature) else "none"
    return "none" if temperature is None else f"{temperature:.3f}"


def save_figures(ensemble, name, dataset, probabilities, results, folder, file_format):
    """The report's Figures 3 (one model only), 5, 6, 7 and 8 and the most confident mistakes; returns their paths."""
    from digits import plots
    from digits.model import layer_table

    numbers, roc, pr = results
    test = numbers["test"]
    title = f"{name} on {test['images']:,} test images"
    path = lambda figure: folder / f"{figure}.{file_format}"  # noqa: E731
    network = []
    if len(ensemble.members) == 1:
        model = ensemble.members[0].model
        network = [plots.save_network(layer_table(model), path("network"),
                                      f"{reader_name(ensemble, tta=False)}: {model.count_params():,} parameters")]
    return network + [
        plots.save_classification_report(numbers["classification_report"], path("classification_report"),
                                         f"Classification report of {title}"),
        plots.save_roc_curves(roc, path("roc_curves"), f"ROC curves of {title}"),
        plots.save_precision_recall_curves(pr, path("precision_recall_curves"), f"Precision-recall curves of {title}"),
        plots.save_confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1), path("confusion_matrix"),
                                    f"Confusion matrix of {title}"),
        plots.save_mistakes(
            dataset.test_images, numbers["misclassified"], path("misclassified_digits"),
            f"{title}: {test['errors']} misread, the most confident mistakes first (with test-set index),\n"
            "each with where the evidence for the digit read lies",
            heat_maps=mistake_heat_maps(ensemble, dataset.test_images, numbers["misclassified"][:plots.MISTAKES_SHOWN]),
        ),
    ]


def mistake_heat_maps(ensemble, images, mistakes):
    """Where the evidence for the digit read lies in each mistake's image (digits.saliency), in the
    models' mean logit; of the image as it is, also when read with test-time augmentation."""
    from digits.saliency import heat_map

    if not mistakes:
        return None
    inputs = to_inputs(images[[mistake["index"] for mistake in mistakes]])
    return heat_map([member.model for member in ensemble.members], inputs, [mistake["predicted"] for mistake in mistakes])


def save_reliability(ensemble, name, images, bins, ece, folder, file_format):
    """The reliability diagram of the reading evaluated: before and after calibration, or one curve uncalibrated."""
    from digits import plots

    members = ensemble.members
    if all(member.temperature is None for member in members):
        curves = {"uncalibrated (no temperature in its run)" if len(members) == 1 else
                  "uncalibrated (no temperature in any run)": (bins["before"], ece["before"])}
    else:
        after = (f"calibrated, T = {members[0].temperature:.3f}" if len(members) == 1
                 else "each model with its run's temperature, then averaged")
        curves = {"before calibration (T = 1)": (bins["before"], ece["before"]), after: (bins["after"], ece["after"])}
    return plots.save_reliability_diagram(curves, folder / f"reliability_diagram.{file_format}",
                                          f"Reliability of {name} on {images:,} test images")


if __name__ == "__main__":
    cli.run(main)
