"""The report's tables and figures, rebuilt from stored sweep results without training anything.

For every study in the storage: the lowest-numbered COMPLETE trial of each key counts;
seeds of one point are aggregated as mean +- std; what the study's grids expect but has
not completed is listed as missing, and points given up after repeated errors as failed.
"""

import csv
import io
import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from digits import plots
from digits.experiments import report_experiments
from digits.files import write_text
from digits.sweeps import MAX_ERRORS

# The report's own Table 1: (optimizer, dropout) -> (train accuracy %, test accuracy %).
REPORT_TABLE_1 = {
    ("sgd", 0.3): (96.4, 97.33),
    ("rmsprop", 0.3): (99.47, 99.2),
    ("adam", 0.3): (99.54, 99.4),
    ("adam", 0.2): (99.33, 99.2),
}


@dataclass
class Point:
    """One grid point: its settings and the completed trials of its seeds."""

    settings: dict
    trials: list = field(default_factory=list)

    def values(self, part, metric="accuracy"):
        return [trial.user_attrs[part][metric] for trial in self.trials]

    def has(self, part):
        """Whether every seed recorded `part` (validation is recorded only when a slice was held out)."""
        return all(trial.user_attrs.get(part) for trial in self.trials)


@dataclass
class StudyResults:
    name: str
    experiment: str
    description: str
    points: list  # of Point, in grid order
    expected_keys: list
    missing: list  # keys
    failed: list  # keys
    duplicates: int

    @property
    def expected(self):
        return len(self.expected_keys)

    @property
    def complete(self):
        return sum(len(point.trials) for point in self.points)


def settings_of(trial_key):
    """A key's settings without the seed."""
    values = json.loads(trial_key)
    values.pop("seed")
    return json.dumps(values, sort_keys=True)


def read_study(storage, name):
    study = optuna.load_study(study_name=name, storage=storage)
    grids = [value for attr, value in study.user_attrs.items() if attr.startswith("grid ")]
    expected = list(dict.fromkeys(k for grid in grids for k in grid["keys"]))
    complete, errors, duplicates = {}, {}, 0
    for trial in study.get_trials(deepcopy=False):
        trial_key = trial.user_attrs.get("key")
        if trial.state == TrialState.COMPLETE:
            if trial_key in complete:
                duplicates += 1
            else:
                complete[trial_key] = trial
        elif trial.state == TrialState.FAIL and "error" in trial.user_attrs:
            errors[trial_key] = errors.get(trial_key, 0) + 1
    points = {}
    for trial_key in expected + [k for k in complete if k not in expected]:
        point = points.setdefault(settings_of(trial_key), Point({}))
        if trial_key in complete:
            trial = complete[trial_key]
            point.settings = {k: v for k, v in trial.user_attrs["point"].items() if k != "seed"}
            point.trials.append(trial)
    failed = [k for k in expected if k not in complete and errors.get(k, 0) >= MAX_ERRORS]
    experiment = grids[0]["experiment"] if grids else name
    return StudyResults(
        name=name,
        experiment=experiment,
        description=describe(experiment, grids),
        points=[point for point in points.values() if point.trials],
        expected_keys=expected,
        missing=[k for k in expected if k not in complete and k not in failed],
        failed=failed,
        duplicates=duplicates,
    )


def describe(experiment, grids):
    """The report's experiments as the code describes them now (one study may hold grids
    saved under older wording, such as a 50- and a 200-epoch run); custom grids as saved."""
    known = report_experiments()
    if experiment in known:
        return known[experiment].description
    return grids[0]["description"] if grids else ""


def mean_std(values):
    """'99.05 +- 0.10' in percent (no +- for one value)."""
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def table_rows(results):
    """Header and rows of a study's table: its settings, then train and test accuracy over seeds."""
    names = list(dict.fromkeys(name for point in results.points for name in point.settings))
    parts = ["train", "validation", "test"] if all(point.has("validation") for point in results.points) else ["train", "test"]
    header = names + [f"{part} accuracy (%)" for part in parts] + ["seeds", "seconds per run"]
    if results.experiment == "optimizer":
        header += ["report: train (%)", "report: test (%)"]
    rows = []
    for point in results.points:
        seconds = statistics.mean(trial.user_attrs["seconds"] for trial in point.trials)
        row = [format_setting(point.settings.get(name)) for name in names]
        row += [mean_std(point.values(part)) for part in parts] + [str(len(point.trials)), f"{seconds:.0f}"]
        diverged = sum(trial.user_attrs.get("diverged", False) for trial in point.trials)
        if diverged:
            row[-3] += f" ({diverged} diverged)"
        if results.experiment == "optimizer":
            theirs = REPORT_TABLE_1.get((point.settings.get("optimizer"), point.settings.get("dropout")))
            row += [f"{theirs[0]:.2f}", f"{theirs[1]:.2f}"] if theirs else ["", ""]
        rows.append(row)
    return header, rows


def format_setting(value):
    if value is None:
        return "default"
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(header, rows):
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def status_lines(results):
    lines = [f"{results.complete} of {results.expected} runs complete"]
    if results.missing:
        lines.append(f"{len(results.missing)} not run yet: " + describe_keys(results.missing[:10], results.expected_keys)
                     + (" ..." if len(results.missing) > 10 else ""))
    if results.failed:
        lines.append(f"{len(results.failed)} given up after repeated errors: "
                     + describe_keys(results.failed, results.expected_keys))
    if results.duplicates:
        lines.append(f"{results.duplicates} duplicate completions ignored (the lowest trial number counts)")
    return lines


def describe_keys(keys, all_keys):
    """'optimizer=sgd dropout=0.3 seed=2; ...': each key by the settings that vary across `all_keys`."""
    configs = [json.loads(k) for k in all_keys]
    varying = [name for name in configs[0] if len({json.dumps(config[name]) for config in configs}) > 1]
    described = []
    for trial_key in keys:
        values = json.loads(trial_key)
        described.append(" ".join(f"{name}={format_setting(values[name])}" for name in varying))
    return "; ".join(described)


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_study_report(results, out):
    """Write a study's table (Markdown and CSV) and its figures into `out`; return the Markdown."""
    header, rows = table_rows(results)
    title = f"{results.name}: {results.description}" if results.description else results.name
    markdown = f"## {title}\n\n" + "\n".join(f"- {line}" for line in status_lines(results)) + "\n\n"
    markdown += markdown_table(header, rows) if rows else "No completed runs yet.\n"
    base = out / slug(results.name)
    write_text(base.with_suffix(".md"), markdown)
    write_text(base.with_suffix(".csv"), csv_table(header, rows))
    figures = draw_figures(results, base)
    if figures:
        markdown += "\n" + "\n".join(f"![{path.stem}]({path.name})" for path in figures) + "\n"
    return markdown


def draw_figures(results, base):
    """The report's figure for each experiment: 4 (dropout), 9 and 10 (epochs), 11 (batch size), 5.3 (lr)."""
    if not results.points:
        return []
    experiment = results.experiment
    title = f"{results.name}: {results.description}"
    if experiment in ("dropout", "batch_size"):
        parameter = "dropout" if experiment == "dropout" else "batch_size"
        return [plots.save_sweep_axis(results.points, parameter, base.with_suffix(".png"), title)]
    if experiment == "learning_rate":
        return [plots.save_learning_rate_sweep(results.points, base.with_suffix(".png"), title)]
    if experiment == "epochs":
        figures = []
        for point in results.points:
            epochs = point.trials[0].user_attrs["config"]["epochs"]
            for metric in ("accuracy", "loss"):
                path = Path(f"{base}-{epochs}-{metric}.png")
                seeds = f", {len(point.trials)} seeds, one thin line each" if len(point.trials) > 1 else ", one seed"
                title = f"{results.name}: {metric} per epoch over {epochs} epochs{seeds}"
                figures.append(plots.save_epoch_curves(point.trials, metric, path, title))
        return figures
    return []


def write_report(storage, out, names=None):
    """Report every study in the storage (or those named); returns the combined Markdown."""
    out = Path(out)
    studies = [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]
    results = [read_study(storage, name) for name in studies if names is None or name in names]
    sections = [write_study_report(study, out) for study in results]
    text = "# Sweep results\n\n" + ("\n".join(sections) if sections else "No studies in this storage yet.\n")
    write_text(out / "README.md", text)
    return text, results
