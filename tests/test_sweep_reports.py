"""sweep_hparams.py's reports: every experiment's tables and figures rebuilt identically from its storage,
partial sweeps, where reports go, and other studies' sections kept."""

import json
from pathlib import Path

import optuna
from optuna.trial import TrialState
from PIL import Image
import pytest

from digits.config import RunConfig
from digits.data import load_dataset
from digits.sweeps.experiments import SWEEP_VALIDATION_SPLIT, report_experiments, runs, study_name
from digits.sweeps.keys import keyed_runs
from digits.sweeps.storage import REPRODUCTION_STORAGE, load_or_create_study, open_storage, register_grid
from test_sweeps import SHIPPED_STORAGE, SWEEPS, sweep_hparams

@pytest.fixture(scope="module")
def every_experiment(tmp_path_factory, digits_npz):
    """All the report's experiments, tiny: 2 epochs on 64 images, one seed (the epochs one with 2 seeds)."""
    folder = tmp_path_factory.mktemp("all")
    result = sweep_hparams("all", "--epochs", 2, "--limit", 64, "--data", digits_npz, "--workers", 1, cwd=folder)
    assert result.returncode == 0, result.stderr
    more_seeds = sweep_hparams("epochs", "--epochs", 2, "--limit", 64, "--data", digits_npz, "--seeds", 2,
                               "--workers", 1, cwd=folder)
    assert more_seeds.returncode == 0, more_seeds.stderr
    return folder


def test_report_rebuilds_every_table_and_figure_identically(every_experiment):
    storage = SWEEPS / "sweeps.log"  # `report` alone reads the reproduction's storage
    first = sweep_hparams("report", "--storage", storage, "--out", "first", cwd=every_experiment)
    second = sweep_hparams("report", "--storage", storage, "--out", "second", cwd=every_experiment)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    tables = sorted(path.name for path in (every_experiment / "first").glob("*.[mc][ds]*"))
    assert len(tables) == 2 * 5 + 1  # .md and .csv for each experiment, and README.md
    for name in tables:
        assert (every_experiment / "first" / name).read_text() == (every_experiment / "second" / name).read_text()

    table_1 = (every_experiment / "first" / "optimizer-epochs-2-limit-64.md").read_text()
    assert "4 of 4 runs complete" in table_1
    assert "| adam | 0.2 |" in table_1 and "99.33 | 99.20 |" in table_1  # the report's own row beside ours
    assert "| train accuracy (%) | validation accuracy (%) | test accuracy (%) |" in table_1
    assert "21 of 21 runs complete" in (every_experiment / "first" / "learning-rate-epochs-2-limit-64.md").read_text()
    figures = ["dropout-epochs-2-limit-64.png", "batch-size-epochs-2-limit-64.png", "learning-rate-epochs-2-limit-64.png",
               "epochs-epochs-2-limit-64-2-accuracy.png", "epochs-epochs-2-limit-64-2-loss.png"]
    for name in figures:
        with Image.open(every_experiment / "first" / name) as image:
            assert image.width > 800 and image.height > 500
    epochs = json.loads(json.dumps(trials_of_study(every_experiment, "epochs (epochs=2, limit=64)")))
    assert all(set(history) >= {"test_accuracy", "test_loss"} for history in epochs)


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


def test_the_learning_rate_report_has_a_table_of_optimizer_against_rate(every_experiment):
    result = sweep_hparams("report", "--storage", SWEEPS / "sweeps.log", "--out", "grid", cwd=every_experiment)
    assert result.returncode == 0, result.stderr
    long, grid = markdown_tables((every_experiment / "grid" / "learning-rate-epochs-2-limit-64.md").read_text())
    assert grid[0] == ["optimizer", "0.0001", "0.0003", "0.001", "0.003", "0.01", "0.03", "0.1", "0.3", "1"]
    assert [row[0] for row in grid[1:]] == ["sgd", "rmsprop", "adam"]
    test = long[0].index("test accuracy (%)")
    from_long_table = {(row[0], row[1]): row[test] for row in long[1:]}
    for row in grid[1:]:
        for rate, cell in zip(grid[0][1:], row[1:]):
            assert cell == from_long_table.get((row[0], rate), "-")  # a rate outside its optimizer's grid reads '-'
    assert grid[1][1:3] == ["-", "-"] and grid[2][-2:] == ["-", "-"] and len(from_long_table) == 21


def trials_of_study(folder, name):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(folder / SWEEPS / "sweeps.log")))
    study = optuna.load_study(study_name=name, storage=storage)
    return [t.user_attrs["history"] for t in study.get_trials() if t.state == TrialState.COMPLETE]


def test_report_of_a_partial_sweep_says_what_is_missing(every_experiment, digits_npz):
    # As a sweep with --seeds 2 does when it starts, then stopped before running anything.
    storage = open_storage(str(every_experiment / SWEEPS / "sweeps.log"))
    base = RunConfig(data=str(digits_npz), epochs=2, limit=64, validation_split=SWEEP_VALIDATION_SPLIT)
    experiment = report_experiments()["optimizer"]
    study = load_or_create_study(storage, study_name(experiment, base))
    dataset = load_dataset(str(digits_npz), 64)
    register_grid(study, experiment, keyed_runs(runs(experiment, base, seeds=2), dataset), dataset)

    result = sweep_hparams("optimizer", "--epochs", 2, "--limit", 64, "--report-only", "--out", "partial",
                           cwd=every_experiment)
    assert result.returncode == 0, result.stderr
    assert "4 of 8 runs complete" in result.stdout
    assert "4 not run yet: dropout=0.3 optimizer=sgd seed=2; dropout=0.3 optimizer=rmsprop seed=2;" in result.stdout


def copy_of_the_shipped_storage(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sweeps.log").write_bytes(SHIPPED_STORAGE.read_bytes())
    return folder / "sweeps.log"


def test_a_report_goes_beside_its_storage_never_into_the_shipped_one(tmp_path):
    copy_of_the_shipped_storage(tmp_path / "mine")
    result = sweep_hparams("report", "--storage", "mine/sweeps.log", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "mine" / "optimizer.md").read_text() == (SHIPPED_STORAGE.parent / "optimizer.md").read_text()
    assert (tmp_path / "mine" / "README.md").is_file() and not (tmp_path / "results").exists()
    sqlite = sweep_hparams("custom", "--grid", "dropout=0.1", "--report-only", "--storage", "sqlite:///db/s.db",
                           cwd=tmp_path)
    assert sqlite.returncode == 0, sqlite.stderr
    assert (tmp_path / "db" / "README.md").is_file() and not (tmp_path / "results").exists()
    chosen = sweep_hparams("report", "--storage", "mine/sweeps.log", "--out", "chosen", cwd=tmp_path)
    assert chosen.returncode == 0 and (tmp_path / "chosen" / "README.md").is_file()


def test_default_report_folders():
    from digits.sweeps.storage import DEFAULT_STORAGE, default_out

    assert default_out() == default_out(DEFAULT_STORAGE) == Path("results/sweeps")
    assert Path(REPRODUCTION_STORAGE) == SHIPPED_STORAGE and default_out(REPRODUCTION_STORAGE) == SHIPPED_STORAGE.parent
    assert default_out("runs/mine.log") == Path("runs")
    assert default_out("sqlite:///results/sweeps.db") == Path("results")
    assert default_out("sqlite:////tmp/x/sweeps.db") == Path("/tmp/x")
    assert default_out("postgresql://user:secret@host:5432/sweeps") == Path("results/sweeps")


def test_a_report_of_one_study_keeps_every_other_studys_section(tmp_path):
    copy_of_the_shipped_storage(tmp_path)
    result = sweep_hparams("optimizer", "--report-only", "--storage", "sweeps.log", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "## optimizer: " in result.stdout and "## dropout: " not in result.stdout  # prints the one asked for
    readme = (tmp_path / "README.md").read_text()
    assert readme == (SHIPPED_STORAGE.parent / "README.md").read_text()
    assert [line.split(":")[0] for line in readme.splitlines() if line.startswith("## ")] == [
        "## optimizer", "## dropout", "## epochs", "## batch_size", "## learning_rate",  # as the studies were made
        "## The report's claims, against the seeds"]


def test_sweep_figure_bars_run_from_the_lowest_seed_to_the_highest():
    """A point where one seed collapses to chance (the learning-rate sweep's Adam 0.03) gets a bar
    from that seed to the other, never past 100% as mean ± std would."""
    from digits.plots import accuracy_ranges

    means, ranges = accuracy_ranges([[0.9536, 0.0980], [0.99, 0.99, 0.99], [0.97]])
    assert means == pytest.approx([52.58, 99.0, 97.0])
    assert means - ranges[0] == pytest.approx([9.80, 99.0, 97.0])
    assert means + ranges[1] == pytest.approx([95.36, 99.0, 97.0])


def test_a_recipe_far_below_the_others_is_a_note_at_the_edge_not_the_scale(tmp_path):
    """The recipe chart's scale spans the recipes that compete; one that fails by points (modern +
    elastic distortion, 97.9%) is an arrow at the left edge with its figures written out."""
    from digits.plots import off_scale_rows, save_recipe_comparison

    accuracies = {"validation": [[0.9926, 0.9930], [0.9952, 0.9958], [0.9792, 0.9788], [0.9890, 0.9990]],
                  "test": [[0.9925, 0.9927], [0.9960, 0.9965], [0.9732, 0.9741], [0.9700, 0.9710]]}
    assert off_scale_rows(accuracies) == {2}  # row 3's validation seeds reach the others: it stays
    figure = save_recipe_comparison(["report", "modern", "elastic", "mixed"], accuracies, tmp_path / "recipe.png",
                                    "recipe")
    assert Image.open(figure).size[0] > 0
    assert off_scale_rows({"test": [[0.99], [0.991], [0.992]]}) == set()  # close recipes: nothing left out
