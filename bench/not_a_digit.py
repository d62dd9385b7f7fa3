"""How well each "not a digit" score tells digits from other things, for saved runs.

    python bench/not_a_digit.py models/ood/report-seed1 models/ood/modern-seed1
    python bench/not_a_digit.py RUN --count 2000 --json results/not_a_digit.json
    python bench/not_a_digit.py models/ood/fast-seed{1,2,3,4,5} --ensemble

For each run (trained with a validation slice), its network's penultimate features and logits
(digits.not_a_digit) are read for two groups of images:

- to choose on: the run's validation slice (digits it did not train on) against each kind of
  digits.outliers made from seed 1, the digit-made kinds from its training digits;
- to measure only: MNIST's test set and scikit-learn's 8x8 digits (other writers, through
  bench/foreign_digits.py), against each kind made from seed 2 (the digit-made kinds from test
  digits), and Fashion-MNIST's test set (Debian's dataset-fashion-mnist) if it is installed.

It prints, per method, the AUROC and the share of outliers that pass when 95% of the digits do
(FPR95), and at the threshold that keeps 99% of the validation digits: the share refused of
each set, the test accuracy on the digits kept, and the method a run's detector takes (the one
refusing most of the outliers of seed 1). The statistics are fitted as a run's
detector fits them (digits.not_a_digit.fit_detector). With --ensemble the runs are also scored
as one ensemble (`as_one`), with two more scores: its mean probability and its members' agreement.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.metrics import roc_auc_score

from digits import calibration, not_a_digit, outliers
from digits.config import load_config
from digits.data import load_dataset, load_mnist, split_point, to_inputs
from digits.files import write_json
from digits.model import load_trained_model
from digits.run_folder import RunFolder
from foreign_digits import sklearn_digits

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
METHODS = not_a_digit.METHODS
ENSEMBLE_METHODS = ("ensemble probability", "ensemble agreement")
KEEP = not_a_digit.KEEP


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run folders trained with a validation slice")
    parser.add_argument("--count", type=int, default=1000, help="images of each outlier kind (default: %(default)s)")
    parser.add_argument("--ensemble", action="store_true", help="also score the runs as one ensemble")
    parser.add_argument("--json", metavar="PATH", help="also write every figure here")
    return parser.parse_args()


class Scorer:
    """One run's network, the statistics its scores need, and each method's score of any images."""

    def __init__(self, model, train_images, train_labels):
        self.model = model
        count = not_a_digit.STATISTICS_IMAGES
        features = not_a_digit.features_of(model, to_inputs(train_images[:count]))
        self.statistics = not_a_digit.fit_statistics(features, train_labels[:count])

    def scores(self, images):
        """(method -> scores, the softmax probabilities)."""
        features = not_a_digit.features_of(self.model, to_inputs(images))
        return ({method: not_a_digit.scores(method, features, self.statistics) for method in METHODS},
                softmax(features.logits, axis=1))


def separation(digit_scores, outlier_scores):
    """(AUROC, share of outliers passing where 95% of digits pass)."""
    truth = np.r_[np.ones(len(digit_scores)), np.zeros(len(outlier_scores))]
    auroc = roc_auc_score(truth, np.r_[digit_scores, outlier_scores])
    return auroc, float(np.mean(outlier_scores >= np.quantile(digit_scores, 0.05)))


def image_sets(run, count):
    """(training digits and labels, digits to choose on, outliers to choose on, digits to measure,
    outliers to measure, the labels of the validation and test digits)."""
    config = load_config(RunFolder(run).run_json)
    if not config.validation_split:
        raise SystemExit(f"{run}: trained without a validation slice, nothing to choose on")
    dataset = load_dataset(config.data, config.limit)
    cut = split_point(len(dataset.train_images), config.validation_split)
    train = dataset.train_images[:cut], dataset.train_labels[:cut]
    validation = dataset.train_images[cut:]
    validation_labels = dataset.train_labels[cut:]
    choose_outliers = {f"{kind}, seed 1": images for kind, images in outliers.make_all(count, 1, *train).items()}
    measure_outliers = {f"{kind}, seed 2": images
                        for kind, images in outliers.make_all(count, 2, dataset.test_images, dataset.test_labels).items()}
    if FASHION_MNIST.is_dir():
        _, (fashion, _) = load_mnist(str(FASHION_MNIST))
        measure_outliers["Fashion-MNIST (test)"] = fashion
    measure_digits = {"MNIST test": dataset.test_images, "scikit-learn digits": sklearn_digits()[0]}
    labels = {"validation digits": validation_labels, "MNIST test": dataset.test_labels}
    return train, {"validation digits": validation}, choose_outliers, measure_digits, measure_outliers, labels


def data_of(run):
    """What decides a run's image sets: its data, limit and validation slice."""
    config = load_config(RunFolder(run).run_json)
    return config.data, config.limit, config.validation_split


def as_one(members):
    """The members' scores of each set combined as an ensemble's: each method's score is the mean
    over members of its percentile among that member's validation digits; "ensemble probability"
    is the highest of the mean probabilities, "ensemble agreement" the share of members reading
    the digit the ensemble reads."""
    combined = {}
    for name in members[0]:
        probabilities = np.mean([member[name][1] for member in members], axis=0)
        read = probabilities.argmax(axis=1)
        scores = {method: np.mean([not_a_digit.percentile_among(np.sort(member["validation digits"][0][method]),
                                                                member[name][0][method]) for member in members], axis=0)
                  for method in METHODS}
        scores["ensemble probability"] = probabilities.max(axis=1)
        scores["ensemble agreement"] = np.mean([member[name][1].argmax(axis=1) == read for member in members], axis=0)
        combined[name] = scores, probabilities
    return combined


def scored_run(run, sets, train):
    scorer = Scorer(load_trained_model(RunFolder(run).model_keras), *train)
    return {name: scorer.scores(images) for group in sets for name, images in group.items()}


def figures_of(scored, methods, choose_outliers, measure_outliers, labels):
    validation = scored["validation digits"][0]
    test_scores, test_probabilities = scored["MNIST test"]
    test_labels = labels["MNIST test"]
    temperature = calibration.fit_temperature(labels["validation digits"], scored["validation digits"][1])
    test_calibrated = calibration.calibrated(test_probabilities, temperature)
    figures = {"choose": {}, "measure": {}, "refused": {}, "kept_test_accuracy": {},
               "test_ece": {"temperature": temperature,
                            "all": calibration.expected_calibration_error(test_labels, test_calibrated)}}
    for method in methods:
        figures["choose"][method] = {kind: separation(validation[method], scored[kind][0][method]) for kind in choose_outliers}
        figures["measure"][method] = {kind: separation(scored["MNIST test"][0][method], scored[kind][0][method])
                                      for kind in measure_outliers}
        threshold = not_a_digit.threshold_keeping(validation[method], KEEP)
        figures["refused"][method] = {name: float(np.mean(scores[method] < threshold)) for name, (scores, _) in scored.items()}
        kept = test_scores[method] >= threshold
        figures["kept_test_accuracy"][method] = float(np.mean(test_probabilities[kept].argmax(axis=1) == test_labels[kept]))
        figures["test_ece"][method] = calibration.expected_calibration_error(test_labels[kept], test_calibrated[kept])
    figures["chosen"] = not_a_digit.most_refusing(  # as fit_detector chooses
        {method: np.mean([figures["refused"][method][kind] for kind in choose_outliers]) for method in methods})
    return figures


def bench_runs(runs, count, ensemble):
    """run (and, with `ensemble`, "ensemble of N") -> its figures."""
    if ensemble and len({data_of(run) for run in runs}) > 1:
        raise SystemExit("an ensemble's runs must share their data, limit and validation slice")
    results, members = {}, []
    sets = None
    for run in runs:
        if sets is None or not ensemble:
            train, *sets, labels = image_sets(run, count)
        print(f"scoring {run}", flush=True)
        members.append(scored_run(run, sets, train))
        results[run] = figures_of(members[-1], METHODS, sets[1], sets[3], labels)
    if ensemble:
        results[f"ensemble of {len(runs)}"] = figures_of(as_one(members), METHODS + ENSEMBLE_METHODS, sets[1], sets[3],
                                                         labels)
    return results


def print_table(title, rows, columns, cell):
    print(f"\n{title}\n\n| | " + " | ".join(columns) + " |\n| --- |" + " --- |" * len(columns))
    for row in rows:
        print(f"| {row} | " + " | ".join(cell(row, column) for column in columns) + " |")


def main():
    args = parse_args()
    results = bench_runs(args.runs, args.count, args.ensemble)
    for run, figures in results.items():
        print(f"\n## {run}", flush=True)
        methods = list(figures["refused"])
        for group, meaning in (("choose", "to choose on: validation digits against outliers of seed 1"),
                               ("measure", "measured only: MNIST's test digits against outliers of seed 2 and Fashion-MNIST")):
            kinds = list(figures[group][methods[0]])
            print_table(f"AUROC / FPR95, {meaning}", kinds, methods,
                        lambda kind, method: "{:.3f} / {:.1%}".format(*figures[group][method][kind]))
        print(f"\nThe method a run's detector takes (most of the outliers of seed 1 refused): {figures['chosen']}")
        names = list(figures["refused"][methods[0]])
        print_table(f"Refused at the threshold keeping {KEEP:.0%} of the validation digits", names, methods,
                    lambda name, method: f"{figures['refused'][method][name]:.1%}")
        print("\nTest accuracy on the digits kept: " + ", ".join(
            f"{method} {accuracy:.2%}" for method, accuracy in figures["kept_test_accuracy"].items()))
        calibrated = figures["test_ece"]
        print(f"Test ECE with the temperature fitted on the validation digits (T = {calibrated['temperature']:.3f}): "
              f"all {calibrated['all']:.2%}; on the digits kept: " + ", ".join(
                  f"{method} {calibrated[method]:.2%}" for method in methods))
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
