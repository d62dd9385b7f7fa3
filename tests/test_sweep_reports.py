"""sweep_hparams.py's tables: every experiment's tables and figures rebuilt identically from its storage,
partial sweeps, where tables go, and other studies' sections kept."""

from pathlib import Path

import optuna
from optuna.trial import TrialState
from PIL import Image
import pytest

from digits.config import RunConfig
from digits.data import load_dataset
from digits.sweeps.experiments import SWEEP_VALIDATION_SPLIT, planned_runs, report_experiments, study_name
from digits.sweeps.keys import keyed_runs, register_grid
from digits.sweeps.storage import REPRODUCTION_STORAGE, load_or_create_study, open_storage
from test_sweeps import SHIPPED_STORAGE, SWEEPS, sweep_hparams


@pytest.fixture(scope="module")
def shipped_tables(tmp_path_factory):
    """The tables rebuilt from a copy of the reproduction's storage (every experiment of the report,
    109 runs on the full data), by `tables --storage mine/sweeps.log`: the folder it ran in."""
    folder = tmp_path_factory.mktemp("shipped")
    copy_of_the_shipped_storage(folder / "mine")
    result = sweep_hparams("tables", "--storage", "mine/sweeps.log", cwd=folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def tiny_sweeps(tmp_path_factory, digits_npz):
    """Two experiments swept here, tiny (2 epochs on 64 images, one seed): optimizer, and epochs,
    whose runs are tested after every epoch."""
    folder = tmp_path_factory.mktemp("tiny")
    for experiment in ("optimizer", "epochs"):
        result = sweep_hparams(experiment, "--epochs", 2, "--limit", 64, "--data", digits_npz, "--workers", 1,
                               cwd=folder)
        assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_the_tables_rebuild_every_shipped_table_and_figure(shipped_tables):
    rebuilt, shipped = shipped_tables / "mine", SHIPPED_STORAGE.parent
    tables = sorted(path.name for path in shipped.glob("*.[mc][ds]*"))
    assert len(tables) == 2 * 5 + 1  # .md and .csv for each of the report's experiments, and README.md
    for name in tables:  # the same text to the byte: the shipped tables are what the storage holds
        assert (rebuilt / name).read_text() == (shipped / name).read_text(), name
    assert sorted(path.name for path in rebuilt.glob("*.png")) == sorted(path.name for path in shipped.glob("*.png"))
    for path in rebuilt.glob("*.png"):
        with Image.open(path) as image:
            assert image.width > 800 and image.height > 500
    table_1 = (rebuilt / "optimizer.md").read_text()
    assert "| adam | 0.2 |" in table_1 and "99.33 | 99.20 |" in table_1  # the report's own row beside ours
    assert "| train accuracy (%) | validation accuracy (%) | test accuracy (%) |" in table_1


@pytest.mark.slow
def test_an_epochs_run_records_the_test_set_after_every_epoch(tiny_sweeps):
    (epochs,) = trials_of_study(tiny_sweeps, "epochs (epochs=2, limit=64)")
    assert len(epochs["test_accuracy"]) == len(epochs["test_loss"]) == len(epochs["accuracy"]) == 2


@pytest.mark.slow
def test_all_sweeps_every_experiment_of_the_report(tmp_path):
    result = sweep_hparams("all", "--epochs", 2, "--limit", 64, "--tables-only", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    studies = [line[3:].split(":")[0] for line in result.stdout.splitlines() if line.startswith("## ")]
    assert studies == [f"{name} (epochs=2, limit=64)" for name in report_experiments()]


def markdown_tables(text):
    """Every Markdown table in `text`, as lists of rows of cells, the header row first."""
    tables, table = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            if not line.startswith("|---"):
                table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            tables.append(table)
            table = []
    return tables


@pytest.mark.slow
def test_the_learning_rate_tables_have_one_of_optimizer_against_rate(shipped_tables):
    long, grid = markdown_tables((shipped_tables / "mine" / "learning-rate.md").read_text())
    assert grid[0] == ["optimizer", "0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
    assert [row[0] for row in grid[1:]] == ["sgd", "rmsprop", "adam"]
    test = long[0].index("test accuracy (%)")
    from_long_table = {(row[0], row[1]): row[test] for row in long[1:]}
    for row in grid[1:]:
        for rate, cell in zip(grid[0][1:], row[1:]):
            assert cell == from_long_table.get((row[0], rate), "-")  # a rate outside its optimizer's grid reads '-'
    assert grid[1][1:3] == ["-", "-"] and grid[2][-2:] == ["-", "-"] and len(from_long_table) == 21


def trials_of_study(folder, name):
    """The histories of a study's complete trials, in the storage a sweep run in `folder` writes by default."""
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / SWEEPS / "sweeps.log")))
    study = optuna.load_study(study_name=name, storage=storage)
    return [t.user_attrs["history"] for t in study.get_trials() if t.state == TrialState.COMPLETE]


@pytest.mark.slow
def test_the_tables_of_a_partial_sweep_say_what_is_missing(tiny_sweeps, digits_npz):
    # As a sweep with --seeds 2 does when it starts, then stopped before running anything.
    storage = open_storage(str(tiny_sweeps / SWEEPS / "sweeps.log"))
    base = RunConfig(data=str(digits_npz), epochs=2, limit=64, validation_split=SWEEP_VALIDATION_SPLIT)
    experiment = report_experiments()["optimizer"]
    study = load_or_create_study(storage, study_name(experiment, base))
    dataset = load_dataset(str(digits_npz), 64)
    register_grid(study, experiment, keyed_runs(planned_runs(experiment, base, seeds=2), dataset), dataset)

    result = sweep_hparams("optimizer", "--epochs", 2, "--limit", 64, "--tables-only", "--out", "partial",
                           cwd=tiny_sweeps)
    assert result.returncode == 0, result.stderr
    assert "4 of 8 runs complete" in result.stdout
    assert "4 not run yet: dropout=0.3 optimizer=sgd seed=2; dropout=0.3 optimizer=rmsprop seed=2;" in result.stdout


def copy_of_the_shipped_storage(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweeps.log").write_bytes(SHIPPED_STORAGE.read_bytes())
    return folder / "sweeps.log"


@pytest.mark.slow
def test_tables_go_beside_their_storage_never_into_the_shipped_one(shipped_tables, tmp_path):
    assert (shipped_tables / "mine" / "README.md").is_file() and not (shipped_tables / "results").exists()
    sqlite = sweep_hparams("custom", "--grid", "dropout=0.1", "--tables-only", "--storage", "sqlite:///db/s.db",
                           cwd=tmp_path)
    assert sqlite.returncode == 0, sqlite.stderr
    assert (tmp_path / "db" / "README.md").is_file() and not (tmp_path / "results").exists()
    chosen = sweep_hparams("tables", "--storage", "sqlite:///db/s.db", "--out", "chosen", cwd=tmp_path)
    assert chosen.returncode == 0 and (tmp_path / "chosen" / "README.md").is_file()


def test_default_table_folders():
    from digits.sweeps.storage import DEFAULT_STORAGE, default_out

    assert default_out() == default_out(DEFAULT_STORAGE) == Path("results/sweeps")
    assert Path(REPRODUCTION_STORAGE) == SHIPPED_STORAGE and default_out(REPRODUCTION_STORAGE) == SHIPPED_STORAGE.parent
    assert default_out("runs/mine.log") == Path("runs")
    assert default_out("sqlite:///results/sweeps.db") == Path("results")
    assert default_out("sqlite:////tmp/x/sweeps.db") == Path("/tmp/x")
    assert default_out("postgresql://user:secret@host:5432/sweeps") == Path("results/sweeps")


@pytest.mark.slow
def test_the_tables_of_one_study_keep_every_other_studys_section(tmp_path):
    copy_of_the_shipped_storage(tmp_path)
    result = sweep_hparams("optimizer", "--tables-only", "--storage", "sweeps.log", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "## optimizer: " in result.stdout and "## dropout: " not in result.stdout  # prints the one asked for
    readme = (tmp_path / "README.md").read_text()
    assert readme == (SHIPPED_STORAGE.parent / "README.md").read_text()
    assert [line.split(":")[0] for line in readme.splitlines() if line.startswith("## ")] == [
        "## optimizer", "## dropout", "## epochs", "## batch_size", "## learning_rate",  # as the studies were made
        "## The report's claims, against the seeds"]


def test_sweep_figure_bars_run_from_the_lowest_seed_to_the_highest():
    """A point where one seed collapses to chance gets a bar from that seed to the other, never past
    100% as mean ± std would."""
    from digits.plots import accuracy_ranges

    means, ranges = accuracy_ranges([[0.9536, 0.0980], [0.99, 0.99, 0.99], [0.97]])
    assert means == pytest.approx([52.58, 99.0, 97.0])
    assert means - ranges[0] == pytest.approx([9.80, 99.0, 97.0])
    assert means + ranges[1] == pytest.approx([95.36, 99.0, 97.0])


def test_a_recipe_far_below_the_others_is_a_note_at_the_edge_not_the_scale(tmp_path):
    """The recipe chart's scale spans the recipes that compete; one that fails by points is an arrow at
    the left edge with its figures written out."""
    from digits.plots import off_scale_rows, save_recipe_comparison

    accuracies = {"validation": [[0.9926, 0.9930], [0.9952, 0.9958], [0.9792, 0.9788], [0.9890, 0.9990]],
                  "test": [[0.9925, 0.9927], [0.9960, 0.9965], [0.9732, 0.9741], [0.9700, 0.9710]]}
    assert off_scale_rows(accuracies) == {2}  # row 3's validation seeds reach the others: it stays
    figure = save_recipe_comparison(["report", "modern", "elastic", "mixed"], accuracies, tmp_path / "recipe.png",
                                    "recipe")
    assert Image.open(figure).size[0] > 0
    assert off_scale_rows({"test": [[0.99], [0.991], [0.992]]}) == set()  # close recipes: nothing left out
