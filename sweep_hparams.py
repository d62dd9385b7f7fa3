"""Sweep the report's hyperparameters overnight, then rebuild its tables and figures in seconds.

    python sweep_hparams.py optimizer                                       # the report's Table 1
    python sweep_hparams.py all --seeds 3                                   # every experiment, 3 seeds each
    python sweep_hparams.py recipe --seeds 3 --keep-models models/sweeps    # beyond the report, keeping each model
    python sweep_hparams.py custom --grid "dropout=0.1,0.3 batch_size=32,128"
    python sweep_hparams.py report                                          # tables and figures, no training
    python sweep_hparams.py compact --storage results/sweeps/sweeps.log     # drop the heartbeats of finished runs

Experiments (each around the report's baseline: 64-64-64, Adam, dropout 0.3, batch 64,
15 epochs): dropout (with SGD, Figure 4), optimizer (Table 1), epochs (one long run tested
after every epoch, Figures 9 and 10), batch_size (Figure 11), learning_rate (section 5.3),
all (those five), recipe (beyond the report: each ingredient of the modern recipe alone,
and the modern and fast recipes; docs/BEYOND.md), and custom grids. Every run holds out the last tenth of its training images; the
study optimizes the accuracy on them, and the test accuracy is recorded beside it.
Results go to an Optuna study per experiment in results/sweeps/sweeps.log (--storage for
another journal, SQLite or PostgreSQL), and the tables and figures beside the storage
(--out to choose). Each run's settings, scores and per-epoch history also go to TensorBoard's
HParams logs beside them as it completes (`tensorboard --logdir results/sweeps/tensorboard`;
`report --tensorboard DIR` writes them from stored runs), and `optuna-dashboard
results/sweeps/sweeps.log` shows the studies live. The reproduction's own runs ship in
results/report/sweeps.log: `report` reads them unless --storage names another, and
`--storage results/report/sweeps.log` continues them. A run is known by its settings, seed
and data fingerprint: a sweep on other data trains its own runs, and reports them apart.
Rerunning the same command after Ctrl-C, a crash or a reboot continues: finished runs are
never repeated; a run cut off resumes from its last finished epoch (each running trial
checkpoints into checkpoints/ beside the storage, removed once it completes). Workers on
several machines share a study
through --storage postgresql://...; every point is completed exactly once.
"""

import argparse
from pathlib import Path

from digits import cli
from digits.data import describe_data, load_dataset
from digits.errors import InputError
from digits.sweeps.experiments import (
    MAX_EPOCHS, SWEEP_BASE, SWEEP_VALIDATION_SPLIT, beyond_experiments, custom_experiment, report_experiments, runs,
    study_name,
)
from digits.sweeps.grids import grid_from_file, grid_from_text


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "experiment", choices=(*report_experiments(), "all", *beyond_experiments(), "custom", "report", "compact"),
        help="what to sweep: one of the report's experiments, all of them, recipe (beyond the report: "
        "docs/BEYOND.md), a custom grid; 'report' only rebuilds the tables and figures from the storage; "
        "'compact' rewrites a journal without the records that no longer count (the heartbeats of finished "
        "runs), once its sweeps have stopped",
    )
    cli.add_data_arguments(parser)
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--seeds", type=cli.positive_int, default=1, metavar="N",
                       help="runs per grid point, seeds 1..N (default: %(default)s)")
    sweep.add_argument("--epochs", type=cli.positive_int, metavar="N",
                       help="override every grid's epoch count, the epochs experiment's included, e.g. 1 for a quick check")
    sweep.add_argument(
        "--max-epochs", type=cli.positive_int, default=50, metavar="N",
        help=f"length of the epochs experiment's one long run, up to {MAX_EPOCHS} (default: %(default)s)",
    )
    sweep.add_argument("--grid", metavar="SPEC", help='custom grid, e.g. "dropout=0.1,0.3 optimizer=sgd,adam filters=32-32-32,64-64-64"')
    sweep.add_argument("--grid-file", metavar="JSON", help='custom grid from a JSON file, e.g. {"dropout": [0.1, 0.3]}')
    sweep.add_argument(
        "--workers", type=workers_count, default="auto", metavar="N|auto",
        help="worker processes on this machine; auto (default): one per core, each on one thread, the "
        "fastest way measured (never more than there are runs left). Start the same command on other "
        "machines with a shared --storage to add theirs",
    )
    sweep.add_argument(
        "--validation-split", type=validation_fraction, metavar="FRACTION",
        help="hold out this last fraction of the training images in every run; the study optimizes the accuracy "
        f"on it, so settings are chosen without the test set (default: {SWEEP_VALIDATION_SPLIT})",
    )
    sweep.add_argument(
        "--keep-models", metavar="DIR",
        help="also keep the model of every run this command completes, as a run folder DIR/<study>/<point>-seed<N> "
        "(e.g. models/sweeps/recipe/modern-seed1) that evaluate.py, predict and the draw page read, one or several "
        "as an ensemble (default: models are not kept; runs completed earlier are not trained again)",
    )
    cli.add_recipe_arguments(parser, presets=False)
    cli.add_speed_arguments(parser, "TensorFlow threads per worker (default: the cores shared out among the workers)")
    storage = parser.add_argument_group("storage and report")
    storage.add_argument(
        "--storage", metavar="PATH_OR_URL",
        help="where results live: a journal file (default: results/sweeps/sweeps.log for sweeps, and for "
        "'report' results/report/sweeps.log, the reproduction's committed runs), sqlite:///FILE.db, or "
        "postgresql://USER:PASSWORD@HOST/DB to share one study between machines",
    )
    storage.add_argument(
        "--out", metavar="DIR",
        help="folder for the tables, figures and README.md (default: the storage file's folder, e.g. results/sweeps "
        "for the default storage; results/DB for a database server)",
    )
    storage.add_argument(
        "--tensorboard", metavar="DIR",
        help="folder for the TensorBoard HParams logs of every completed run (default: OUT/tensorboard while "
        "sweeping; 'report' and --report-only write them only when asked, from the stored runs); watch them "
        "with `tensorboard --logdir DIR`",
    )
    storage.add_argument("--report-only", action="store_true", help="rebuild the tables and figures without training")
    return parser


def workers_count(text):
    if text == "auto":
        return text
    return cli.positive_int(text)


def validation_fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a fraction above 0 and below 1 (a sweep chooses by the accuracy on it), got {text!r}")
    return value


def chosen_experiments(args):
    if args.experiment == "custom":
        if bool(args.grid) == bool(args.grid_file):
            raise InputError("custom needs exactly one of --grid SPEC or --grid-file JSON")
        return [custom_experiment(grid_from_text(args.grid) if args.grid else grid_from_file(args.grid_file))]
    if args.grid or args.grid_file:
        raise InputError("--grid and --grid-file go with the custom experiment")
    experiments = report_experiments(args.max_epochs)
    if args.experiment == "all":
        return list(experiments.values())
    return [{**experiments, **beyond_experiments()}[args.experiment]]


def planned_sweeps(args, base):
    """(experiment, its runs, its study's name) for each experiment the command line asks for.

    `base` holds the flags given over the sweeps' baseline; --epochs, when given, applies to
    every grid, the epochs experiment's own long run included."""
    return [(experiment, runs(experiment, base, args.seeds, args.epochs), study_name(experiment, base, args.epochs))
            for experiment in chosen_experiments(args)]


def run_experiment(storage, args, experiment, grid, name, dataset):
    """Run one experiment's grid on `dataset` in its study with this machine's workers; 130 if stopped."""
    from digits.sweeps import claims, storage as storages, workers
    from digits.sweeps.keys import keyed_runs
    from digits.sweeps.hparams import write_sweep_logs

    study = storages.load_or_create_study(storage, name)
    grid = keyed_runs(grid, dataset)
    storages.register_grid(study, experiment, grid, dataset)
    write_sweep_logs(storage, args.tensorboard)  # the new grid's settings, and the runs stored before
    keys = {trial_key for trial_key, _, _ in grid}
    before = claims.read_grid_state(study, keys)
    count, threads = workers.plan_workers(args.workers, args.threads, len(keys) - len(before.complete))
    print(
        f"Sweep {name!r}: {experiment.description}; {len(experiment.points)} points x {args.seeds} seed(s) = "
        f"{len(grid)} runs, {len(before.complete)} already done; {count} worker(s) here, "
        f"{threads} thread(s) each; storage {storages.redacted(args.storage)}",
        flush=True,
    )
    try:
        sweep = workers.Sweep(args.storage, name, experiment, tuple(grid), threads, args.tensorboard,
                              str(storages.default_out(args.storage) / "checkpoints"), args.keep_models)
        after = workers.run_sweep(sweep, count)
    except KeyboardInterrupt:
        print("\nStopped. Finished runs are saved; run the same command again to continue.")
        return 130
    print(f"{name}: {len(after.complete)} of {len(grid)} runs complete"
          + (f"; {len(after.failed)} given up after repeated errors" if after.failed else ""))
    return 0


def print_report(storage, out, names=None):
    """Rebuild every study's tables and figures and the README in `out`; print the sections of `names` (None: all)."""
    from digits.sweeps.report import write_report

    sections = write_report(storage, out)
    for name in sections if names is None else names:
        print(sections.get(name) or f"## {name}\n\nNo runs stored yet.\n")
    print(f"Tables, figures and README.md in {out}/")


def write_tensorboard(storage, logdir):
    """Write the HParams logs of every completed run into `logdir` (None: nowhere), and say how to watch them."""
    if logdir is None:
        return
    from digits.sweeps.hparams import write_sweep_logs

    count = write_sweep_logs(storage, logdir)
    print(f"TensorBoard HParams logs of {count} runs in {logdir}/: tensorboard --logdir {logdir}")


def compact(parser, args):
    """Compact the journal --storage names (default: the sweeps' own), saying how much it shrank."""
    from digits.sweeps.storage import DEFAULT_STORAGE, compact_journal, redacted

    given = [name for name, value in vars(args).items()
             if name not in ("experiment", "storage") and value != parser.get_default(name)]
    if given:
        raise InputError(f"compact takes --storage alone, not --{given[0].replace('_', '-')}")
    path = args.storage or DEFAULT_STORAGE
    if "://" in path:
        raise InputError(f"{redacted(path)}: compact works on journal files; a database keeps only each attribute's "
                         "latest value")
    before, after = compact_journal(path)
    print(f"{path}: {before:,} -> {after:,} bytes; every study and trial reads back the same")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.experiment == "compact":
        return compact(parser, args)
    if args.keep_models and (args.experiment == "report" or args.report_only):
        raise InputError("--keep-models keeps the models a sweep trains; 'report' and --report-only train nothing")

    # Optuna, the sweep engine and the figures load only now, so that --help answers at once.
    from digits.sweeps.storage import DEFAULT_STORAGE, REPRODUCTION_STORAGE, default_out, open_storage

    if args.storage is None:
        args.storage = REPRODUCTION_STORAGE if args.experiment == "report" else DEFAULT_STORAGE
    storage = open_storage(args.storage)
    out = Path(args.out) if args.out else default_out(args.storage)
    if args.experiment == "report":
        print(f"Report of {args.storage}" + (" (the reproduction's runs; --storage names another)"
                                              if args.storage == REPRODUCTION_STORAGE else ""))
        print_report(storage, out)
        write_tensorboard(storage, args.tensorboard)
        return 0
    base = cli.config_from(args, SWEEP_BASE)
    planned = planned_sweeps(args, base)
    if not args.report_only:
        args.tensorboard = args.tensorboard or str(out / "tensorboard")
        dataset = load_dataset(base.data, base.limit)  # bad data fails here, not in every worker
        print(f"Data: {describe_data(dataset.fingerprint(base.validation_split))}")
        for experiment, grid, name in planned:
            if run_experiment(storage, args, experiment, grid, name, dataset):
                return 130
    print_report(storage, out, [name for _, _, name in planned])
    write_tensorboard(storage, args.tensorboard)
    return 0


if __name__ == "__main__":
    cli.run(main)
