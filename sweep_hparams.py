"""Sweep the report's hyperparameters once per seed; write tables and figures.

    python sweep_hparams.py optimizer --seeds 3   # the report's Table 1
    python sweep_hparams.py all --seeds 3         # the report's experiments
    python sweep_hparams.py custom --grid "dropout=0.1,0.3 batch_size=32,128"
    python sweep_hparams.py tables                # the shipped runs' tables

Rerun a command to continue it after Ctrl-C, a crash or a reboot. docs/sweeps.md
tells the experiments, storages, several machines, dashboards and compact.
"""

import argparse
from pathlib import Path

from digits import cli
from digits.data import describe_data, load_dataset
from digits.errors import InputError
from digits.sweeps.experiments import (
    MAX_EPOCHS, SWEEP_BASE, SWEEP_VALIDATION_SPLIT, beyond_experiments, custom_experiment, planned_runs,
    report_experiments, study_name,
)
from digits.sweeps.grids import grid_from_file, grid_from_text


def build_parser():
    parser = cli.ArgumentParser(description=__doc__,
                                usage="%(prog)s experiment [options]")
    parser.add_argument(
        "experiment", metavar="experiment",
        choices=(*report_experiments(), "all", *beyond_experiments(), "custom", "tables", "compact"),
        help=f"{', '.join(report_experiments())}, all (those five), recipe, custom, tables or compact",
    )
    cli.add_data_arguments(parser)
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--seeds", type=cli.positive_int, default=1, metavar="N",
                       help="runs per grid point, seeds 1..N (default: %(default)s)")
    sweep.add_argument("--epochs", type=cli.positive_int, metavar="N", help="override every grid's epoch count")
    sweep.add_argument("--max-epochs", type=cli.positive_int, default=50, metavar="N",
                       help=f"the epochs experiment's length, at most {MAX_EPOCHS}")
    sweep.add_argument("--grid", metavar="SPEC", help='a custom grid, e.g. "dropout=0.1,0.3 batch_size=32,64"')
    sweep.add_argument("--grid-file", metavar="JSON", help='custom grid file, e.g. {"dropout": [0.1, 0.3]}')
    sweep.add_argument("--workers", type=workers_count, default="auto", metavar="N|auto",
                       help="worker processes here (default: one per core)")
    sweep.add_argument("--validation-split", type=validation_fraction, metavar="SHARE",
                       help=f"held-out share, what is optimized (default: {SWEEP_VALIDATION_SPLIT})")
    sweep.add_argument("--keep-models", metavar="DIR", help="keep each completed run's model in DIR/<study>/")
    cli.add_recipe_arguments(parser, presets=False)
    cli.add_speed_arguments(parser, "TensorFlow threads per worker")
    storage = parser.add_argument_group("storage and tables")
    storage.add_argument("--storage", metavar="PATH|URL", help="a journal, sqlite:///FILE.db, postgresql://...")
    storage.add_argument("--out", metavar="DIR", help="folder for the tables (default: the storage's)")
    storage.add_argument("--tensorboard", metavar="DIR", help="HParams logs (default: OUT/tensorboard)")
    storage.add_argument("--tables-only", action="store_true", help="write the tables and figures without training")
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
    return [(experiment, planned_runs(experiment, base, args.seeds, args.epochs),
             study_name(experiment, base, args.epochs))
            for experiment in chosen_experiments(args)]


def run_experiment(storage, args, experiment, grid, name, dataset):
    """Run one experiment's grid on `dataset` in its study with this machine's workers; 130 if stopped."""
    from digits.sweeps import storage as storages, workers
    from digits.sweeps.hparams import write_sweep_logs
    from digits.sweeps.keys import keyed_runs, register_grid
    from digits.sweeps.reservations import read_grid_state

    study = storages.load_or_create_study(storage, name)
    grid = keyed_runs(grid, dataset)
    register_grid(study, experiment, grid, dataset)
    write_sweep_logs(storage, args.tensorboard)  # the new grid's settings, and the runs stored before
    keys = {trial_key for trial_key, _, _ in grid}
    before = read_grid_state(study, keys)
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


def print_tables(storage, out, names=None):
    """Write every study's tables and figures and the README in `out`; print the sections of `names` (None: all)."""
    from digits.sweeps.tables import write_tables

    sections = write_tables(storage, out)
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
    from digits.sweeps.compaction import compact_journal
    from digits.sweeps.storage import DEFAULT_STORAGE, redacted

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
    if args.keep_models and (args.experiment == "tables" or args.tables_only):
        raise InputError("--keep-models keeps the models a sweep trains; 'tables' and --tables-only train nothing")

    # The grids and the data are checked first, so that bad input answers at once and creates no
    # storage; Optuna, the sweep engine and the figures load only after them.
    dataset = None
    if args.experiment != "tables":
        base = cli.config_from(args, SWEEP_BASE)
        planned = planned_sweeps(args, base)
        if not args.tables_only:
            dataset = load_dataset(base.data, base.limit)  # bad data fails here, not in every worker

    from digits.sweeps.storage import DEFAULT_STORAGE, REPRODUCTION_STORAGE, default_out, open_storage

    if args.storage is None:
        args.storage = REPRODUCTION_STORAGE if args.experiment == "tables" else DEFAULT_STORAGE
    storage = open_storage(args.storage)
    out = Path(args.out) if args.out else default_out(args.storage)
    if args.experiment == "tables":
        print(f"Tables of {args.storage}" + (" (the reproduction's runs; --storage names another)"
                                              if args.storage == REPRODUCTION_STORAGE else ""))
        print_tables(storage, out)
        write_tensorboard(storage, args.tensorboard)
        return 0
    if dataset is not None:
        args.tensorboard = args.tensorboard or str(out / "tensorboard")
        print(f"Data: {describe_data(dataset.fingerprint(base.validation_split))}")
        for experiment, grid, name in planned:
            if run_experiment(storage, args, experiment, grid, name, dataset):
                return 130
    print_tables(storage, out, [name for _, _, name in planned])
    write_tensorboard(storage, args.tensorboard)
    return 0


if __name__ == "__main__":
    cli.run(main)
