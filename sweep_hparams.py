"""Sweep the report's hyperparameters overnight, then rebuild its tables and figures in seconds.

    python sweep_hparams.py optimizer --data ../shared/mnist-first24k   # the report's Table 1
    python sweep_hparams.py all --seeds 3                               # every experiment, 3 seeds each
    python sweep_hparams.py custom --grid "dropout=0.1,0.3 batch_size=32,128"
    python sweep_hparams.py report                                      # tables and figures, no training

Experiments (each around the report's baseline: 64-64-64, Adam, dropout 0.3, batch 64,
15 epochs): dropout (with SGD, Figure 4), optimizer (Table 1), epochs (one long run tested
after every epoch, Figures 9 and 10), batch_size (Figure 11), learning_rate (section 5.3),
all, and custom grids. Every run holds out the last tenth of its training images and
records its validation accuracy beside the test accuracy. Results go to an Optuna study
per experiment in results/report/sweeps.log, where the reproduction's own runs ship
(--storage for another journal, SQLite or PostgreSQL). Rerunning the same command after
Ctrl-C, a crash or a reboot continues: finished runs are never repeated; runs cut off are
run again.
Workers on several machines share a study through --storage postgresql://...; every point
is completed exactly once.
"""

import argparse

from digits import cli
from digits.config import RunConfig
from digits.data import load_mnist
from digits.errors import InputError
from digits.experiments import (
    MAX_EPOCHS, SWEEP_VALIDATION_SPLIT, custom_experiment, grid_from_file, grid_from_text, key, report_experiments,
    runs, study_name,
)

EXPERIMENTS = ("dropout", "optimizer", "epochs", "batch_size", "learning_rate")


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "experiment", choices=(*EXPERIMENTS, "all", "custom", "report"),
        help="what to sweep; 'report' only rebuilds the tables and figures from the storage",
    )
    cli.add_data_arguments(parser)
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--seeds", type=int, default=1, metavar="N", help="runs per grid point, seeds 1..N (default: %(default)s)")
    sweep.add_argument("--epochs", type=int, metavar="N", help="override every grid's epoch count, e.g. 1 for a quick check")
    sweep.add_argument(
        "--max-epochs", type=int, default=50, metavar="N",
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
        "--validation-split", type=float, default=SWEEP_VALIDATION_SPLIT, metavar="FRACTION",
        help="hold out this last fraction of the training images in every run and record its accuracy beside "
        "the test accuracy, to choose settings without the test set (default: %(default)s)",
    )
    cli.add_speed_arguments(parser, "TensorFlow threads per worker (default: the cores shared out among the workers)")
    storage = parser.add_argument_group("storage and report")
    storage.add_argument(
        "--storage", metavar="PATH_OR_URL",
        help="where results live: a journal file (default: results/report/sweeps.log, the reproduction's "
        "committed runs), sqlite:///FILE.db, or "
        "postgresql://USER:PASSWORD@HOST/DB to share one study between machines",
    )
    storage.add_argument("--out", default="results/report", metavar="DIR", help="folder for the tables and figures (default: %(default)s)")
    storage.add_argument("--report-only", action="store_true", help="rebuild the named experiment's tables and figures without training")
    return parser


def workers_count(text):
    if text == "auto":
        return text
    return cli.positive_int(text)


def chosen_experiments(args):
    if args.experiment == "custom":
        if bool(args.grid) == bool(args.grid_file):
            raise InputError("custom needs exactly one of --grid SPEC or --grid-file JSON")
        return [custom_experiment(grid_from_text(args.grid) if args.grid else grid_from_file(args.grid_file))]
    if args.grid or args.grid_file:
        raise InputError("--grid and --grid-file go with the custom experiment")
    experiments = report_experiments(args.max_epochs)
    names = EXPERIMENTS if args.experiment == "all" else (args.experiment,)
    return [experiments[name] for name in names]


def main(argv=None):
    args = build_parser().parse_args(argv)

    # Optuna and the sweep engine load only now, so that --help answers at once.
    from digits import sweep_report, sweeps

    storage = sweeps.open_storage(args.storage)
    if args.experiment == "report":
        text, _ = sweep_report.write_report(storage, args.out)
        print(text)
        return 0

    base = RunConfig(data=cli.data_path(args.data), limit=args.limit, epochs=args.epochs or RunConfig.epochs,
                     validation_split=args.validation_split, precision=args.precision, xla=args.xla)
    experiments = [(experiment, runs(experiment, base, args.seeds)) for experiment in chosen_experiments(args)]
    names = [study_name(experiment, base) for experiment, _ in experiments]
    if args.report_only:
        text, _ = sweep_report.write_report(storage, args.out, names)
        print(text)
        return 0
    load_mnist(base.data, base.limit)  # fail on bad data here, not in every worker

    for (experiment, grid), name in zip(experiments, names):
        study = sweeps.load_or_create_study(storage, name)
        sweeps.register_grid(study, experiment, grid)
        keys = {key(config) for config, _ in grid}
        before = sweeps.grid_status(study, storage, keys)
        workers, threads = sweeps.plan_workers(args.workers, args.threads, len(keys) - len(before.complete))
        sweep = sweeps.Sweep(args.storage, name, experiment, tuple(grid), threads)
        print(
            f"Sweep {name!r}: {experiment.description}; {len(experiment.points)} points x {args.seeds} seed(s) = "
            f"{len(grid)} runs, {len(before.complete)} already done; {workers} worker(s) here, "
            f"{threads} thread(s) each; storage {sweeps.redacted(args.storage or sweeps.DEFAULT_STORAGE)}",
            flush=True,
        )
        try:
            after = sweeps.run_sweep(sweep, workers)
        except KeyboardInterrupt:
            print("\nStopped. Finished runs are saved; run the same command again to continue.")
            return 130
        print(f"{name}: {len(after.complete)} of {len(grid)} runs complete"
              + (f"; {len(after.failed)} given up after repeated errors" if after.failed else ""))

    text, _ = sweep_report.write_report(storage, args.out, names)
    print(text)
    print(f"Tables and figures in {args.out}/")
    return 0


if __name__ == "__main__":
    cli.run(main)
