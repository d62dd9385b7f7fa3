"""Evaluate a saved model on the MNIST test set: the report's section 4, without retraining.

    python evaluate.py models/cnn                        # a run folder from train_cnn.py
    python evaluate.py models/cnn/model.h5 --data ~/datasets/mnist.npz
    python evaluate.py models/cnn --format pdf --figures report/figures

Prints the classification report (the report's Figure 5), the test loss, accuracy,
top-2 accuracy, error count and the ROC AUCs. Draws the network's layers (Figure 3),
the classification report (Figure 5), precision-recall curves (Figure 6), ROC curves
(Figure 7), confusion matrix (Figure 8) and the most confident mistakes into --figures,
and saves every number into the model's folder as evaluation.json and
classification_report.txt; the figures go into the run's figures/ unless --figures says.
Data: --data, else the data the run was trained on (its run.json), else $MNIST_DATA,
else the complete MNIST shipped in data/mnist/; evaluation.json records its fingerprint.
"""

import argparse
from pathlib import Path

from digits import cli
from digits.data import load_dataset, to_inputs
from digits.files import write_json, write_text
from digits.runs import RunFolder, find_model_file, provenance, saved_data_path


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a run folder (uses its model.keras, else model.h5) or a .keras/.h5 file")
    cli.add_data_arguments(parser, limit=False)
    output = parser.add_argument_group("output")
    output.add_argument("--figures", metavar="DIR", help="folder for the figures (default: the run folder's figures/)")
    output.add_argument("--format", choices=("png", "pdf"), default="png", help="figure file format (default: %(default)s)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    model_file = find_model_file(args.model)
    run = RunFolder(model_file.parent)

    # TensorFlow and scikit-learn load only now, so that --help and bad arguments answer at once.
    from digits.evaluation import evaluate_predictions
    from digits.model import load_trained_model, predict_probabilities

    model = load_trained_model(model_file)  # before the data: a bad model is named first
    data = cli.data_path(args.data, saved=saved_data_path(run.path))
    dataset = load_dataset(data)
    x_test, y_test = dataset.test_images, dataset.test_labels
    probabilities = predict_probabilities(model, to_inputs(x_test))
    numbers, report_text, roc, pr = evaluate_predictions(y_test, probabilities)

    print(f"Model: {model_file} ({model.count_params():,} parameters)")
    print(f"Data: {len(x_test):,} test images from {dataset.source}\n")
    print_scores(report_text, numbers)

    figures_folder = Path(args.figures or run.figures)
    figures = save_figures(model, model_file, dataset, probabilities, (numbers, roc, pr), figures_folder, args.format)
    record = {
        "model": str(model_file),
        "data": dataset.fingerprint(),
        **numbers,
        "figures": [str(path) for path in figures],
        "provenance": provenance(),
    }
    write_text(run.path / "classification_report.txt", report_text)
    write_json(run.path / "evaluation.json", record)
    print(f"\nSaved {run.path / 'evaluation.json'} and classification_report.txt; figures in {figures_folder}/")
    return 0


def print_scores(report_text, numbers):
    test = numbers["test"]
    print(report_text)
    print(f"Test loss {test['loss']:.4f}, accuracy {test['accuracy']:.2%}, top-2 accuracy {test['top2_accuracy']:.2%}, "
          f"{test['errors']} errors in {test['images']:,} images")
    per_class = "  ".join(f"{digit}: {numbers['roc_auc'][str(digit)]:.5f}" for digit in range(10))
    print(f"ROC AUC per digit  {per_class}")
    print(f"ROC AUC micro-average {numbers['roc_auc']['micro']:.6f}, macro-average {numbers['roc_auc']['macro']:.6f}; "
          f"average precision micro-average {numbers['average_precision']['micro']:.6f}")


def save_figures(model, model_file, dataset, probabilities, results, folder, file_format):
    """The report's Figures 3, 5, 6, 7 and 8 and the most confident mistakes; returns their paths."""
    from digits import plots
    from digits.model import layer_table

    numbers, roc, pr = results
    test = numbers["test"]
    name = f"{model_file.parent.name}/{model_file.name}"
    title = f"{name} on {test['images']:,} test images"
    path = lambda figure: folder / f"{figure}.{file_format}"  # noqa: E731
    return [
        plots.save_network(layer_table(model), path("network"), f"{name}: {model.count_params():,} parameters"),
        plots.save_classification_report(numbers["classification_report"], path("classification_report"),
                                         f"Classification report of {title}"),
        plots.save_roc_curves(roc, path("roc_curves"), f"ROC curves of {title}"),
        plots.save_precision_recall_curves(pr, path("precision_recall_curves"), f"Precision-recall curves of {title}"),
        plots.save_confusion_matrix(dataset.test_labels, probabilities.argmax(axis=1), path("confusion_matrix"),
                                    f"Confusion matrix of {title}"),
        plots.save_mistakes(
            dataset.test_images, numbers["misclassified"], path("misclassified_digits"),
            f"{title}: {test['errors']} misread, the most confident mistakes first (with test-set index)",
        ),
    ]


if __name__ == "__main__":
    cli.run(main)
