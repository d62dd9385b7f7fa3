"""The shipped reproduction: the committed sweep storage is complete, and the tables built
from it are the ones committed and quoted in docs/REPRODUCTION.md."""

from dataclasses import make_dataclass, replace
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from digits.config import RunConfig
from digits.sweeps import keys, report
from digits.sweeps.claims import read_grid_state
from digits.sweeps.experiments import SWEEP_BASE, report_experiments, runs, study_name
from digits.sweeps.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "results" / "report"
SEEDS = {1, 2, 3}
# What the reproduction ran: (experiment, --max-epochs, --seeds).
REPRODUCTION = [("dropout", 50, 3), ("optimizer", 50, 3), ("epochs", 50, 3), ("epochs", 200, 1),
                ("batch_size", 50, 3), ("learning_rate", 50, 3)]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """`python sweep_hparams.py report` run on a copy of the committed storage, as a fresh clone would."""
    folder = tmp_path_factory.mktemp("report")
    shutil.copy(SHIPPED / "sweeps.log", folder / "sweeps.log")
    result = subprocess.run(
        [sys.executable, str(ROOT / "sweep_hparams.py"), "report", "--storage", str(folder / "sweeps.log"),
         "--out", str(folder / "out")],
        capture_output=True, text=True, timeout=120, cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def test_every_grid_point_of_every_experiment_ran_once_per_seed(rebuilt):
    folder, _ = rebuilt
    storage = open_storage(str(folder / "sweeps.log"))
    for name in report_experiments():
        results = report.read_study(storage, name)
        assert results.complete == results.expected and not results.missing, name
        assert not results.duplicates and not results.failed, name
        for point in results.points:
            seeds = [record["point"]["seed"] for record in point.records]
            if point.settings.get("epochs") == 200:  # the report's 200-epoch claim: one long run
                assert seeds == [1]
            else:
                assert sorted(seeds) == sorted(SEEDS), (name, point.settings)


def test_committed_tables_are_the_ones_the_storage_gives(rebuilt):
    folder, _ = rebuilt
    for table in sorted(SHIPPED.glob("*.md")) + sorted(SHIPPED.glob("*.csv")):
        assert (folder / "out" / table.name).read_text() == table.read_text(), table.name


def test_table_1_in_the_reproduction_matches_the_storage(rebuilt):
    folder, _ = rebuilt
    header, rows = report.table_rows(report.read_study(open_storage(str(folder / "sweeps.log")), "optimizer"))
    ours = {
        (row[header.index("optimizer")], row[header.index("dropout")]): tuple(
            row[header.index(f"{part} accuracy (%)")] for part in ("train", "validation", "test"))
        for row in rows
    }
    text = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    table_1 = text[text.index("## Table 1"):text.index("## Figure 4")]
    quoted = {
        (optimizer.lower(), dropout): (train, validation, test)
        for optimizer, dropout, train, validation, test in re.findall(
            r"^\| 3 conv \(64-64-64\) \| (\w+) \| ([\d.]+) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|", table_1, re.M)
    }
    assert len(quoted) == 4 and quoted == ours


def assert_every_point_of_every_experiment_complete(storage, base):
    """The grids today's code asks for, as the reproduction ran them, all complete in the storage."""
    for name, max_epochs, seeds in REPRODUCTION:
        experiment = report_experiments(max_epochs)[name]
        assert study_name(experiment, base) == name
        wanted = [keys.key(config) for config, _ in runs(experiment, base, seeds)]
        state = read_grid_state(optuna.load_study(study_name=name, storage=storage), wanted)
        assert set(state.complete) == set(wanted) and not state.pending, (name, max_epochs)
        results = report.read_study(storage, name)
        assert results.complete == results.expected and not results.missing and not results.failed, name


def test_a_new_config_field_leaves_the_stored_runs_complete(monkeypatch, rebuilt):
    folder, _ = rebuilt
    later = make_dataclass("RunConfig", [("augment", bool, False)], bases=(RunConfig,), frozen=True)
    monkeypatch.setattr(keys, "RunConfig", later)  # what a later issue's RunConfig reads stored keys with
    base = later(**replace(SWEEP_BASE, data="mnist.npz").to_dict())
    assert '"augment": false' in keys.key(base)
    assert_every_point_of_every_experiment_complete(open_storage(str(folder / "sweeps.log")), base)


def without_field(value, name):
    """A journal entry with the RunConfig field `name` gone from every stored config, key and grid."""
    if isinstance(value, dict):
        return {k: without_field(v, name) for k, v in value.items() if not (k == name and "epochs" in value)}
    if isinstance(value, list):
        return [without_field(v, name) for v in value]
    if isinstance(value, str) and value.startswith("{") and f'"{name}"' in value:
        return json.dumps(without_field(json.loads(value), name), sort_keys=True)
    return value


def test_runs_stored_before_a_field_existed_read_as_its_default(tmp_path):
    lines = (SHIPPED / "sweeps.log").read_text().splitlines()
    older = [json.dumps(without_field(json.loads(line), "xla")) for line in lines]
    assert '"xla' not in "\n".join(older) and '\\"xla' not in "\n".join(older)
    (tmp_path / "sweeps.log").write_text("\n".join(older) + "\n")
    assert_every_point_of_every_experiment_complete(open_storage(str(tmp_path / "sweeps.log")), SWEEP_BASE)


def test_stored_trials_optimized_the_test_accuracy_and_still_read_by_their_records(rebuilt):
    """Trials stored before the validation objective hold the test accuracy as their value; the report
    reads the records, never the value."""
    folder, _ = rebuilt
    study = optuna.load_study(study_name="optimizer", storage=open_storage(str(folder / "sweeps.log")))
    complete = [trial for trial in study.get_trials() if trial.state == optuna.trial.TrialState.COMPLETE]
    assert all(trial.value == trial.user_attrs["test"]["accuracy"] for trial in complete)
    assert any(trial.value != trial.user_attrs["validation"]["accuracy"] for trial in complete)
