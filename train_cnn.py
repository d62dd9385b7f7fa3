"""Train the report's network on MNIST, test it, and save it in a run folder.

    python train_cnn.py                             # the report's run on MNIST
    python train_cnn.py --epochs 2 --limit 5000 --out models/quick
    python train_cnn.py --recipe modern --out models/modern
    python train_cnn.py --resume                    # after Ctrl-C or a crash

It writes the model, run.json, figures and TensorBoard logs (docs/training.md).
"""

import json

from digits import cli
from digits.config import load_config
from digits.data import load_dataset, to_inputs
from digits.errors import InputError
from digits.run_folder import DEFAULT_RUN, RunFolder


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, usage="%(prog)s [options]")
    cli.add_data_arguments(parser)
    cli.add_model_arguments(parser)
    cli.add_training_arguments(parser)
    cli.add_recipe_arguments(parser)
    cli.add_speed_arguments(parser, "TensorFlow threads per op (default: all cores)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default=DEFAULT_RUN, metavar="DIR", help="run folder to write (default: %(default)s)")
    output.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    output.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    output.add_argument("--config", metavar="RUN", help="start from a saved run's settings")
    output.add_argument("--figures", metavar="DIR", help="folder for the figures (default: OUT/figures)")
    output.add_argument("--tensorboard", metavar="DIR", help="TensorBoard logs (default: OUT/tensorboard)")
    return parser


def parse_args(argv):
    """The arguments, the RunConfig and the run folder; --resume and --config start from a saved run's settings."""
    args = build_parser().parse_args(argv)
    run = RunFolder(args.out)
    saved = None
    if args.resume and run.is_interrupted():
        saved = run.interrupted_config()
    elif args.config:
        saved = load_config(args.config)
    config = cli.config_from(args, base=saved)
    if args.resume and saved is not None and config != saved:
        changed = ", ".join(
            f"{name} {before!r} -> {after!r}"
            for (name, before), after in zip(saved.to_dict().items(), config.to_dict().values())
            if before != after
        )
        raise InputError(
            f"{run.path}: the interrupted run has other settings ({changed}); "
            "resume it as it was, or leave out --resume to start again"
        )
    return args, config, run


def main(argv=None):
    args, config, run = parse_args(argv)
    resuming = args.resume and run.is_interrupted()
    if args.resume and not resuming and run.is_complete():
        print(f"{run.path}: the run is complete, nothing to resume (see {run.run_json}).")
        return 0
    if not resuming:
        run.refuse_to_replace(args.overwrite)

    dataset = load_dataset(config.data, config.limit)
    print(f"Data: {len(dataset.train_images):,} training and {len(dataset.test_images):,} test images from {dataset.source}")
    print(f"Config: {json.dumps(config.to_dict())}")

    # TensorFlow loads only now, so that --help and bad arguments answer at once; its threads
    # are set first, since they cannot change once its runtime has started.
    from digits import hardware

    hardware.configure_threads(args.threads)
    from digits import augment, plots, training
    from digits.model import build_cnn

    build_cnn(config).summary()
    print(f"Training on {hardware.describe_device()} in {hardware.precision_policy(config.precision)}.")
    if resuming:
        print(f"Resuming {run.path} after epoch {run.finished_epochs()} of {config.epochs}.")
    elif run.is_interrupted():
        print(f"Starting {run.path} afresh; its interrupted run is dropped (--resume would have continued it).")
    run.start(config, resume=resuming)
    try:
        result = training.train(config, dataset, run=run, tensorboard=args.tensorboard)
    except KeyboardInterrupt:
        print(f"\nStopped. Finished epochs are saved in {run.checkpoint}; add --resume to continue.")
        return 130
    result.raise_if_diverged()
    run.save(result.model, result.record())

    figures = args.figures or run.figures
    title = f"{config.describe()}; {training.describe_training_set(len(dataset.train_images), config)}"
    plots.save_digit_grid(dataset.train_images, dataset.train_labels, f"{figures}/training_digits.png",
                          f"The first nine training images ({dataset.source})")
    if config.augments():  # what the augmentation makes of the first training digits, with this seed
        originals = to_inputs(dataset.train_images[:6])
        plots.save_augmented_digits(originals, dataset.train_labels[:6], augment.example_draws(originals, config, draws=5),
                                    f"{figures}/augmented_digits.png", f"Augmentation: {augment.settings(config)}")
    for metric in ("accuracy", "loss"):
        plots.save_metric_curve(result.history, metric, f"{figures}/{metric}_per_epoch.png",
                                f"{metric.capitalize()} per epoch: {title}", result.test[metric])

    print(f"Saved {run.model_keras}, {run.model_h5.name}, {run.run_json.name}; figures in {figures}/")
    print(f"TensorBoard: tensorboard --logdir {args.tensorboard or run.tensorboard}")
    print(f"Train accuracy: {result.train['accuracy']:.2%} (last epoch, dropout on)")
    if result.validation:
        print(f"Validation accuracy: {result.validation['accuracy']:.2%}")
    if result.calibration:
        fit = result.calibration
        print(f"Temperature {fit['temperature']:.3f}, fitted on the {fit['images']:,} validation images: expected "
              f"calibration error {fit['before']['ece']:.2%} -> {fit['after']['ece']:.2%}, NLL "
              f"{fit['before']['nll']:.4f} -> {fit['after']['nll']:.4f} (stored in {run.run_json.name})")
    print(f"Test accuracy: {result.test['accuracy']:.2%}")
    return 0


if __name__ == "__main__":
    cli.run(main)
