"""Train the report's convolutional network on MNIST, test it, and save it.

    python train_cnn.py                                  # all of MNIST, shipped in data/mnist/: no download
    python train_cnn.py --epochs 2 --limit 5000 --out models/quick
    python train_cnn.py --data /usr/share/datasets/fashion-mnist/ --out models/fashion   # other data
    python train_cnn.py --recipe modern --out models/modern   # beyond the report (docs/BEYOND.md)

The network is the report's: three Conv2D(64, 3x3, relu) with max pooling after the
first two, Flatten, Dropout(0.3), Dense(10, softmax); 80,266 parameters; Adam,
categorical cross-entropy, batch 64, 15 epochs. It trains on MNIST's 60,000 training
images and tests on its 10,000 test images, as the report did (99.4% test accuracy
there; the README's Results section has this project's). On CPUs that have bfloat16 it
computes in mixed bfloat16, faster for the same accuracy (the README's Speed section has
the measurements; --precision float32 for the report's way).
The run folder (--out) gets model.keras, model.h5, run.json, history.csv and
curves.png, its figures/ the report's Figures 1, 9 and 10, and its tensorboard/ the
TensorBoard logs of every epoch (--tensorboard DIR for elsewhere); run.json records the
data's fingerprint (image counts and SHA-256s), and with a validation slice the
temperature fitted on it that calibrates the model's probabilities (evaluate.py,
predict and the draw page use it). A finished run is never replaced unless
--overwrite says so.
"""

import argparse
import json

from digits import cli
from digits.config import load_config
from digits.data import load_dataset, to_inputs
from digits.errors import InputError
from digits.run_folder import DEFAULT_RUN, RunFolder


def build_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_data_arguments(parser)
    cli.add_model_arguments(parser)
    cli.add_training_arguments(parser)
    cli.add_recipe_arguments(parser)
    cli.add_speed_arguments(parser, "TensorFlow threads per op (default: one per core); fewer leaves cores free")
    output = parser.add_argument_group("output")
    output.add_argument("--out", default=DEFAULT_RUN, metavar="DIR", help="run folder to write (default: %(default)s)")
    output.add_argument(
        "--overwrite", action="store_true", help="replace the finished run in --out (refused without it)",
    )
    output.add_argument(
        "--figures", metavar="DIR",
        help="folder for the report's Figures 1, 9 and 10 (default: the run folder's figures/)",
    )
    output.add_argument(
        "--tensorboard", metavar="DIR",
        help="folder for TensorBoard's logs of every epoch: loss, accuracy, validation loss and accuracy, learning "
        "rate (default: the run folder's tensorboard/); watch them with `tensorboard --logdir DIR`",
    )
    output.add_argument(
        "--resume", action="store_true",
        help="continue the interrupted run in --out from its last finished epoch, with its saved settings "
        "(starts a new run if there is none)",
    )
    output.add_argument(
        "--config", metavar="RUN",
        help="start from the settings of a saved run (its folder or run.json); flags given override them",
    )
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
    plots.save_training_curves(result.history, run.curves_png, title, result.test)
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
