"""The shipped reproduction: the committed sweep storage is complete, and the tables built
from it are the ones committed and quoted in docs/REPRODUCTION.md."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from digits import sweep_report, sweeps
from digits.experiments import report_experiments

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "results" / "report"
SEEDS = {1, 2, 3}


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
    storage = sweeps.open_storage(str(folder / "sweeps.log"))
    for name in report_experiments():
        results = sweep_report.read_study(storage, name)
        assert results.complete == results.expected and not results.missing, name
        assert not results.duplicates and not results.failed, name
        for point in results.points:
            seeds = [trial.user_attrs["point"]["seed"] for trial in point.trials]
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
    header, rows = sweep_report.table_rows(sweep_report.read_study(sweeps.open_storage(str(folder / "sweeps.log")), "optimizer"))
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
