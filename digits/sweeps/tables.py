"""Tables, figures and a README, written from stored sweep results without training.

For every study in the storage, and within it for each data its runs saw (the data's
fingerprint is part of every key; each data gets its own section, named in it and in the
figures' titles, and its own files when a study holds several): the lowest-numbered
COMPLETE trial of each key counts; seeds of one point are aggregated as mean ± std;
what the study's grids expect but has not completed is listed as missing, and points
given up after repeated errors as failed (reservations.read_grid_state decides both, as
for the workers). Results are read from each trial's stored record (train, validation and
test), never from the value Optuna optimized. The figures are drawn by digits.plots from
plain numbers.
"""

import csv
import io
import json
from pathlib import Path
import re
import statistics
from dataclasses import dataclass

import optuna

from digits import plots
from digits.files import write_text
from digits.data import describe_data
from digits.sweeps.experiments import (
    AXIS,
    EPOCH_CURVES,
    LEARNING_RATE,
    RECIPE,
    Experiment,
    beyond_experiments,
    format_setting,
    report_experiments,
    slug,
)
from digits.sweeps.keys import data_of, registered_grids, stored_config
from digits.sweeps.reservations import read_grid_state
from digits.sweeps.storage import study_names
from digits.sweeps.verdicts import BEST, report_verdicts

PARTS = ("train", "validation", "test")


@dataclass
class PointRuns:
    """One grid point: its settings, and the run records of its completed seeds."""

    settings: dict
    records: list  # one per completed seed: the trial's stored record

    def values(self, part, metric="accuracy"):
        return [record[part][metric] for record in self.records]

    def has(self, part):
        """Whether every seed recorded `part` (validation is recorded only when a slice was held out)."""
        return all(record.get(part) for record in self.records)


@dataclass
class StudyResults:
    """A study's runs on one data (a study may hold runs on several: each gets its own section)."""

    name: str
    experiment: Experiment
    data_sha256: str | None  # the data's fingerprint, as its keys name it (None: a study with no runs)
    data: str  # the data, described for people (digits.data.describe_data)
    points: list  # of PointRuns with at least one completed seed, in grid order
    expected_keys: list
    missing: list  # keys
    failed: list  # keys
    duplicates: int

    @property
    def expected(self):
        return len(self.expected_keys)

    @property
    def complete(self):
        return sum(len(point.records) for point in self.points)


def read_study(storage, name):
    """A study's results, one StudyResults per data its runs were asked for or made on."""
    study = optuna.load_study(study_name=name, storage=storage)
    grids = registered_grids(study)
    state = read_grid_state(study)
    experiment = experiment_of(name, grids)
    expected = list(dict.fromkeys(k for grid in grids for k in grid["keys"]))
    fingerprints = {sha: fingerprint for grid in grids for sha, fingerprint in grid.get("data", {}).items()}
    by_data = {} if expected or state.complete else {None: []}
    for trial_key in expected + [k for k in state.complete if k not in expected]:
        by_data.setdefault(data_of(trial_key), []).append(trial_key)
    return [results_on(name, experiment, data, keys, [k for k in keys if k in expected], state,
                       fingerprints.get(data))
            for data, keys in by_data.items()]


def results_on(name, experiment, data_sha256, keys, expected, state, fingerprint):
    """The StudyResults of one data's `keys` (those asked for, `expected`, first)."""
    points = {}
    for trial_key in keys:
        point = points.setdefault(settings_of(trial_key), PointRuns({}, []))
        if trial_key in state.complete:
            record = state.complete[trial_key].user_attrs
            point.settings = {k: v for k, v in record["point"].items() if k != "seed"}
            point.records.append(record)
            fingerprint = fingerprint or record.get("data")
    failed = [k for k in expected if k in state.failed]
    return StudyResults(
        name=name,
        experiment=experiment,
        data_sha256=data_sha256,
        data=describe_data(fingerprint) if keys else "no runs stored yet",
        points=[point for point in points.values() if point.records],
        expected_keys=expected,
        missing=[k for k in expected if k not in state.complete and k not in failed],
        failed=failed,
        duplicates=sum(state.duplicates.get(k, 0) for k in keys),
    )


def settings_of(trial_key):
    """A key's settings without the seed and the data."""
    values = json.loads(trial_key)
    values.pop("seed")
    values.pop("data")
    return json.dumps(values, sort_keys=True)


def experiment_of(name, grids):
    """A study's Experiment: the report's or a beyond experiment as the code describes it (the
    epochs study holds two grids, a 50- and a 200-epoch run), else its first grid's."""
    saved = grids[0] if grids else {"experiment": name, "description": ""}
    known = {**report_experiments(), **beyond_experiments()}
    return known.get(saved["experiment"]) or Experiment(saved["experiment"], saved["description"], ())


# Tables -----------------------------------------------------------------------------------


def mean_std(values):
    """'99.05 ± 0.10' in percent (no ± for one value)."""
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def table_rows(results):
    """Header and rows of a study's table: its settings, then train, validation and test accuracy
    over seeds, and the report's own numbers where the experiment has them."""
    named = results.experiment.point_names is not None
    names = ["recipe"] if named else list(dict.fromkeys(name for point in results.points for name in point.settings))
    parts = [part for part in PARTS if part != "validation" or all(point.has(part) for point in results.points)]
    reference = results.experiment.reference
    header = names + [f"{part} accuracy (%)" for part in parts] + ["seeds", "seconds per run"]
    header += list(reference.columns) if reference else []
    rows = []
    for point in results.points:
        seconds = statistics.mean(record["seconds"] for record in point.records)
        row = [point_label(results.experiment, point)] if named else [format_setting(point.settings.get(n)) for n in names]
        row += [mean_std(point.values(part)) for part in parts] + [str(len(point.records)), f"{seconds:.0f}"]
        diverged = sum(record.get("diverged", False) for record in point.records)
        if diverged:
            row[-3] += f" ({diverged} diverged)"
        rows.append(row + (reference.row(point.settings) if reference else []))
    return header, rows


def grid_table(results, part="test"):
    """Header and rows of a two-way table of `part` accuracy (mean ± std over seeds): one row per
    value of the experiment's first grid setting, one column per value of its second, in grid
    order; a cell the grid lacks reads '-', one with no run yet stays empty."""
    row_name, column_name = results.experiment.grid
    row_values = list(dict.fromkeys(point[row_name] for point in results.experiment.points))
    column_values = sorted({point[column_name] for point in results.experiment.points})
    cells = {(point[row_name], point[column_name]): "" for point in results.experiment.points}
    cells.update({(point.settings[row_name], point.settings[column_name]): mean_std(point.values(part))
                  for point in results.points})
    header = [row_name] + [format_setting(value) for value in column_values]
    rows = [[format_setting(row)] + [cells.get((row, column), "-") for column in column_values] for row in row_values]
    return header, rows


def point_label(experiment, point):
    """A point's name in its experiment, else its settings (a point the experiment no longer holds)."""
    return experiment.point_name(point.settings) or " ".join(
        f"{name}={format_setting(value)}" for name, value in point.settings.items())


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
    varying = [name for name in configs[0] if len({json.dumps(config.get(name)) for config in configs}) > 1]
    described = []
    for trial_key in keys:
        values = json.loads(trial_key)
        described.append(" ".join(f"{name}={format_setting(values[name])}" for name in varying))
    return "; ".join(described)


# Figures ----------------------------------------------------------------------------------


def accuracies(points):
    """{part: each point's accuracies over its seeds}, for the parts every point recorded."""
    return {part: [point.values(part) for point in points] for part in PARTS if all(point.has(part) for point in points)}


def axis_figures(results, base, title):
    """Figures 4 and 11: accuracy against the experiment's one setting."""
    axis = results.experiment.axis
    points = sorted(results.points, key=lambda point: point.settings[axis])
    x = [point.settings[axis] for point in points]
    return [plots.save_sweep_axis(x, accuracies(points), axis, base.with_suffix(".png"), title)]


def learning_rate_figures(results, base, title):
    """Section 5.3: accuracy against the learning rate, one curve per optimizer."""
    curves = {}
    for optimizer in dict.fromkeys(point.settings["optimizer"] for point in results.points):
        mine = sorted((point for point in results.points if point.settings["optimizer"] == optimizer),
                      key=lambda point: point.settings["learning_rate"])
        curves[optimizer] = ([point.settings["learning_rate"] for point in mine], accuracies(mine))
    return [plots.save_learning_rate_sweep(curves, base.with_suffix(".png"), title)]


def epoch_curve_figures(results, base, title):
    """Figures 9 and 10: accuracy and loss after every epoch, for each length of run."""
    figures = []
    for point in results.points:
        epochs = stored_config(point.records[0]).epochs
        histories = [record["history"] for record in point.records]
        seeds = f", {len(histories)} seeds, one thin line each" if len(histories) > 1 else ", one seed"
        for metric in ("accuracy", "loss"):
            figures.append(plots.save_epoch_curves(
                histories, metric, Path(f"{base}-{epochs}-{metric}.png"),
                f"{results.name}: {metric} per epoch over {epochs} epochs{seeds}\n{results.data}"))
    return figures


def recipe_figures(results, base, title):
    """The recipe experiment: validation and test accuracy of each named point, over its seeds."""
    names = [point_label(results.experiment, point) for point in results.points]
    return [plots.save_recipe_comparison(names, accuracies(results.points), base.with_suffix(".png"), title)]


FIGURES = {AXIS: axis_figures, LEARNING_RATE: learning_rate_figures, EPOCH_CURVES: epoch_curve_figures,
           RECIPE: recipe_figures}


def draw_figures(results, base):
    """The figure the study's experiment draws, into files named from `base`; their paths."""
    if not results.points or results.experiment.figure is None:
        return []
    title = f"{results.name}: {results.experiment.description}\n{results.data}"
    return FIGURES[results.experiment.figure](results, base, title)


# Writing ----------------------------------------------------------------------------------


def file_name(results, several_data):
    """A study's files: its name, and when it holds runs on several data, the data's short fingerprint."""
    if not several_data:
        return slug(results.name)
    return f"{slug(results.name)}-data-{results.data_sha256[:8]}"


def write_study_tables(results, out, file_name):
    """Write a study's table on one data (Markdown and CSV) and its figures into `out`, in files
    named from `file_name`; return its README section."""
    header, rows = table_rows(results)
    description = results.experiment.description
    title = f"{results.name}: {description}" if description else results.name
    markdown = f"## {title}\n\n" + "\n".join(f"- {line}" for line in [f"data: {results.data}", *status_lines(results)])
    markdown += "\n\n" + (markdown_table(header, rows) if rows else "No completed runs yet.\n")
    if rows and results.experiment.grid:
        row_name, column_name = results.experiment.grid
        markdown += (f"\nTest accuracy (%), mean ± std over seeds, by {row_name} (rows) and {column_name} (columns):"
                     f"\n\n" + markdown_table(*grid_table(results)))
    base = Path(out) / file_name
    write_text(base.with_suffix(".md"), markdown)
    write_text(base.with_suffix(".csv"), csv_table(header, rows))
    figures = draw_figures(results, base)
    if figures:
        markdown += "\n" + "\n".join(f"![{path.stem}]({path.name})" for path in figures) + "\n"
    return markdown


def claims_section(verdicts):
    """The README's section on the report's claims: the rule, then each verdict."""
    return "## The report's claims, against the seeds\n\n" + VERDICT_RULE + "".join(
        "\n" + verdict_markdown(verdict) for verdict in verdicts)


def verdict_markdown(verdict):
    """A claim's verdict, and a table of its setting against every other, seed by seed."""
    text = verdict.sentence() + "\n"
    if verdict.comparisons:
        rows = [[" ".join(f"{name}={format_setting(value)}" for name, value in point.settings.items()),
                 ", ".join(f"{100 * value:.2f}" for value in point.values("test")),
                 mean_std(point.values("test")), how] for point, how in verdict.comparisons]
        text += "\n" + markdown_table(["setting", "test accuracy per seed (%)", "mean ± std (%)", f"{BEST}, against it"], rows)
    return text


VERDICT_RULE = ("A claimed best setting is *ahead* of another only if every one of its seeds beats every seed of the "
                "other on the test set, *behind* only if every seed loses, and *within seed noise* otherwise "
                "(digits/sweeps/verdicts.py).\n")


def earlier_files(out, name):
    """The files written earlier for study `name` into `out`: its tables and figures,
    on one data or several, so that a study now on other data leaves none behind."""
    pattern = re.compile(rf"{re.escape(slug(name))}(-data-[0-9a-f]{{8}})?(-\d+-(accuracy|loss))?\.(md|csv|png)")
    return [path for path in Path(out).glob("*") if pattern.fullmatch(path.name)]


def write_tables(storage, out):
    """Write every study's tables and figures into `out`, and a README.md of them all, so that
    writing one study's never drops another's section; return {study name: its section}."""
    sections, studies = {}, {}
    for name in study_names(storage):
        studies[name] = groups = read_study(storage, name)
        for path in earlier_files(out, name):
            path.unlink()
        sections[name] = "\n".join(write_study_tables(results, out, file_name(results, len(groups) > 1))
                                   for results in groups)
    text = "# Sweep results\n\n" + ("\n".join(sections.values()) if sections else "No studies in this storage yet.\n")
    verdicts = report_verdicts(studies)
    if verdicts:
        text += "\n" + claims_section(verdicts)
    write_text(Path(out) / "README.md", text)
    return sections
