"""The shipped reproduction: the committed sweep storage holds runs on the whole of MNIST only,
each once; the tables built from it are the ones committed, and the ones quoted in
docs/REPRODUCTION.md and docs/results.md; and its status, as the docs state it, is the storage's."""

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
from digits.data import load_dataset
from digits.sweeps import keys, tables
from digits.sweeps.experiments import SWEEP_BASE, planned_runs, report_experiments, study_name
from digits.sweeps.reservations import read_grid_state
from digits.sweeps.storage import open_storage

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "results" / "report"
# What the reproduction runs: (experiment, --max-epochs, --seeds).
REPRODUCTION = [("dropout", 50, 3), ("optimizer", 50, 3), ("epochs", 50, 3), ("epochs", 200, 1),
                ("batch_size", 50, 3), ("learning_rate", 50, 3)]


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """`python sweep_hparams.py tables` run on a copy of the committed storage, as a fresh clone would."""
    folder = tmp_path_factory.mktemp("report")
    shutil.copy(SHIPPED / "sweeps.log", folder / "sweeps.log")
    result = subprocess.run(
        [sys.executable, str(ROOT / "sweep_hparams.py"), "tables", "--storage", str(folder / "sweeps.log"),
         "--out", str(folder / "out")],
        capture_output=True, text=True, timeout=120, cwd=folder,
    )
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def mnist():
    """The shipped MNIST, as every sweep run sees it: the last tenth of the training images held out."""
    return load_dataset()


def reproduction_keys(mnist, base=SWEEP_BASE):
    """{study name: the keys of every run the reproduction asks for}, as today's code makes them."""
    wanted = {}
    for name, max_epochs, seeds in REPRODUCTION:
        experiment = report_experiments(max_epochs)[name]
        assert study_name(experiment, base) == name
        wanted.setdefault(name, []).extend(k for k, _, _ in keys.keyed_runs(planned_runs(experiment, base, seeds), mnist))
    return wanted


def stored_state(storage, name, wanted):
    study = optuna.load_study(study_name=name, storage=storage)
    return read_grid_state(study, wanted), read_grid_state(study)


@pytest.mark.slow
def test_every_stored_run_is_a_run_of_the_reproduction_on_the_whole_of_mnist_and_ran_once(rebuilt, mnist):
    storage = open_storage(str(rebuilt / "sweeps.log"))
    full = mnist.fingerprint(SWEEP_BASE.validation_split)
    assert (full["train"]["images"], full["validation"]["images"], full["test"]["images"]) == (54_000, 6_000, 10_000)
    for name, wanted in reproduction_keys(mnist).items():
        ours, everything = stored_state(storage, name, wanted)
        assert set(everything.complete) <= set(wanted), name  # nothing on other data, nothing outside the grids
        assert not ours.failed and not any(ours.duplicates.values()), name
        for trial in ours.complete.values():
            assert trial.user_attrs["data"]["sha256"] == full["sha256"], (name, trial.number)
            assert trial.value == trial.user_attrs["validation"]["accuracy"]  # chosen on validation, never test


def documented_status():
    """(runs complete, runs in all) as docs/REPRODUCTION.md states them."""
    text = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    match = re.search(r"\*\*Status \([\d-]+\): ([\d,]+) of ([\d,]+) runs complete", text)
    assert match, "docs/REPRODUCTION.md states no status"
    return tuple(int(group.replace(",", "")) for group in match.groups())


@pytest.mark.slow
def test_the_documented_status_is_the_storages(rebuilt, mnist):
    storage = open_storage(str(rebuilt / "sweeps.log"))
    wanted = reproduction_keys(mnist)
    complete = sum(len(stored_state(storage, name, keys_)[0].complete) for name, keys_ in wanted.items())
    assert documented_status() == (complete, sum(len(keys_) for keys_ in wanted.values()))


@pytest.mark.slow
def test_committed_tables_are_the_ones_the_storage_gives(rebuilt):
    for table in sorted(SHIPPED.glob("*.md")) + sorted(SHIPPED.glob("*.csv")):
        assert (rebuilt / "out" / table.name).read_text() == table.read_text(), table.name
    assert sorted(path.name for path in (rebuilt / "out").glob("*.md")) == sorted(path.name for path in SHIPPED.glob("*.md"))


def table_1_of_the_storage(rebuilt):
    (results,) = tables.read_study(open_storage(str(rebuilt / "sweeps.log")), "optimizer")
    header, rows = tables.table_rows(results)
    return {
        (row[header.index("optimizer")], row[header.index("dropout")]): tuple(
            row[header.index(f"{part} accuracy (%)")] for part in ("train", "validation", "test"))
        for row in rows
    }


def quoted_table_1(text):
    """Table 1 as a page quotes it: rows '| 3 conv (64-64-64) | Adam | [dropout ]0.3 | train | validation | test |'."""
    return {
        (optimizer.lower(), dropout): (train.strip(), validation.strip(), test.strip())
        for optimizer, dropout, train, validation, test in re.findall(
            r"^\| 3 conv \(64-64-64\) \| (\w+) \| (?:dropout )?([\d.]+) \| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|",
            text, re.M)
    }


@pytest.mark.slow
def test_table_1_in_the_reproduction_and_the_results_is_the_storages(rebuilt):
    ours = table_1_of_the_storage(rebuilt)
    reproduction = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    results = (ROOT / "docs" / "results.md").read_text()
    for page, text in (("REPRODUCTION.md", reproduction[reproduction.index("## Table 1"):]),
                       ("results.md", results[results.index("## Sweeps"):])):
        assert quoted_table_1(text) == ours, page


@pytest.mark.slow
def test_a_new_config_field_leaves_the_stored_runs_counted(monkeypatch, rebuilt, mnist):
    later = make_dataclass("RunConfig", [("augment", bool, False)], bases=(RunConfig,), frozen=True)
    monkeypatch.setattr(keys, "RunConfig", later)  # what a later version's RunConfig reads stored keys with
    base = later(**SWEEP_BASE.to_dict())
    assert '"augment": false' in keys.key(base, "data")
    assert_stored_runs_counted(open_storage(str(rebuilt / "sweeps.log")), reproduction_keys(mnist, base))


def assert_stored_runs_counted(storage, wanted):
    """Every completed run in the storage counts for a run the grids ask for, and some exist."""
    counted = 0
    for name, keys_ in wanted.items():
        ours, everything = stored_state(storage, name, keys_)
        assert set(ours.complete) == set(everything.complete), name
        counted += len(ours.complete)
    assert counted > 0


def without_field(value, name):
    """A journal entry with the RunConfig field `name` gone from every stored config, key and grid."""
    if isinstance(value, dict):
        return {k: without_field(v, name) for k, v in value.items() if not (k == name and "epochs" in value)}
    if isinstance(value, list):
        return [without_field(v, name) for v in value]
    if isinstance(value, str) and value.startswith("{") and f'"{name}"' in value:
        return json.dumps(without_field(json.loads(value), name), sort_keys=True)
    return value


def test_runs_stored_before_a_field_existed_read_as_its_default(tmp_path, mnist):
    lines = (SHIPPED / "sweeps.log").read_text().splitlines()
    older = [json.dumps(without_field(json.loads(line), "xla")) for line in lines]
    assert '"xla' not in "\n".join(older) and '\\"xla' not in "\n".join(older)
    (tmp_path / "sweeps.log").write_text("\n".join(older) + "\n")
    assert_stored_runs_counted(open_storage(str(tmp_path / "sweeps.log")), reproduction_keys(mnist))


@pytest.mark.slow
def test_runs_on_other_data_never_count_for_the_reproduction(rebuilt, mnist):
    other = replace(mnist, train_images=mnist.train_images[::-1].copy(), train_labels=mnist.train_labels[::-1].copy())
    storage = open_storage(str(rebuilt / "sweeps.log"))
    for name, keys_ in reproduction_keys(other).items():
        ours, _ = stored_state(storage, name, keys_)
        assert not ours.complete and len(ours.pending) == len(keys_), name


def grid_of(text):
    """The optimizer-against-learning-rate table in `text`: its lines, from its header row to its last row."""
    match = re.search(r"^\| optimizer \| 0\.0001 \|.*?(?=\n(?!\|))", text, re.M | re.S)
    assert match, "no table of optimizer against learning rate"
    return match.group(0)


@pytest.mark.slow
def test_the_learning_rate_table_in_the_reproduction_is_the_storages(rebuilt):
    ours = grid_of((rebuilt / "out" / "learning-rate.md").read_text())
    reproduction = (ROOT / "docs" / "REPRODUCTION.md").read_text()
    assert ours.count("\n") == 4  # the header, its rule, and one row per optimizer
    assert grid_of(reproduction[reproduction.index("## Section 5.3"):]) == ours
