"""Teach the network your own handwritten digits, and let it read them (the report's section 6.2).

    python add_own_digits.py --data ../shared/mnist-first24k        # train on MNIST + data/train/<digit>/*
    python add_own_digits.py --model models/cnn --fine-tune-epochs 3 --repeat 20
    python add_own_digits.py predict --model models/cnn my_seven.png photo_of_a_3.jpg
    python add_own_digits.py predict --model models/cnn --json data/validation/*/*
    python add_own_digits.py draw --model models/cnn --open         # draw digits in the browser, save them

Images live in data/train/<digit>/ and data/validation/<digit>/ (PNG or JPEG, any size,
mode or polarity). Each is converted the way MNIST's own digits were: grayscale,
inverted to bright ink on black, cropped to the ink, scaled to 20 pixels and centred
by mass in 28x28 (not np.resize, which scrambles the pixels). Training images join
MNIST's training set (--repeat K copies each, so a handful is not drowned by 60,000),
validation images join its test set, and accuracy is reported on MNIST's test set and
on your validation images separately, before and after. The draw mode serves a local
page where you draw digits with a mouse, finger or pen, watch the network read them
through that same conversion, and save them, labelled, into those folders.
"""

import argparse
from dataclasses import replace
import json
import sys

import numpy as np

from digits import cli
from digits.config import load_config
from digits.data import load_mnist, to_inputs, to_one_hot
from digits.errors import InputError
from digits.own_digits import read_digit_folders, read_digit_image, thumbnail
from digits.runs import RunFolder, data_summary, find_model_file, provenance


def build_train_parser():
    parser = cli.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    own = parser.add_argument_group("your digits")
    own.add_argument("--train-dir", default="data/train", metavar="DIR", help="training images in DIR/<digit>/ (default: %(default)s)")
    own.add_argument("--validation-dir", default="data/validation", metavar="DIR", help="validation images in DIR/<digit>/ (default: %(default)s)")
    own.add_argument("--repeat", type=int, default=1, metavar="K", help="add each of your training images K times (default: %(default)s)")
    own.add_argument("--model", metavar="RUN", help="continue training this saved model (a run folder or .keras/.h5) instead of a new one")
    own.add_argument("--fine-tune-epochs", type=int, default=3, metavar="K", help="epochs when continuing a --model (default: %(default)s)")
    cli.add_data_arguments(parser)
    cli.add_model_arguments(parser)
    cli.add_training_arguments(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--out", default="models/own-digits", metavar="DIR", help="run folder to write (default: %(default)s)")
    output.add_argument("--figures", default="figures", metavar="DIR", help="folder for the figure of your digits (default: %(default)s)")
    return parser


def build_predict_parser():
    parser = cli.ArgumentParser(prog="add_own_digits.py predict", description="Read digits from image files with a saved model.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="PNG or JPEG images, one digit each")
    parser.add_argument("--model", required=True, metavar="RUN", help="a run folder or a .keras/.h5 model")
    parser.add_argument("--json", action="store_true", help='one JSON object per file: {"file", "digit", "probability", ...}')
    return parser


def build_draw_parser():
    parser = cli.ArgumentParser(
        prog="add_own_digits.py draw",
        description="Serve a local page to draw digits, watch the network read them, and save them as training data.",
    )
    parser.add_argument("--model", default="models/cnn", metavar="RUN", help="a run folder or a .keras/.h5 model (default: %(default)s)")
    parser.add_argument("--data-dir", default="data", metavar="DIR", help="drawings go to DIR/train/<digit>/ and DIR/validation/<digit>/ (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on; 0 picks a free one (default: %(default)s)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    return parser


def report_folder(name, folder):
    for reason in folder.skipped:
        print(f"skipped {reason}")
    counts = "  ".join(f"{digit}: {count}" for digit, count in folder.counts().items())
    print(f"{name}: {len(folder.labels)} image(s) read ({counts})")


def accuracy_line(label, model_scores):
    return f"{label}: " + ", ".join(f"{name} {score:.2%}" for name, score in model_scores.items())


def scores(model, mnist_test, own_validation):
    """Accuracy on MNIST's test set and on the person's validation images, separately."""
    from digits.model import predict_probabilities

    result = {}
    for name, (images, labels) in (("MNIST test", mnist_test), ("your validation images", own_validation)):
        if len(labels):
            predicted = predict_probabilities(model, to_inputs(images)).argmax(axis=1)
            result[name] = float(np.mean(predicted == labels))
    return result


def train_main(argv):
    parser = build_train_parser()
    args, config = cli.parse_config(parser, argv)
    if args.repeat < 1 or args.fine_tune_epochs < 1:
        raise InputError("--repeat and --fine-tune-epochs must be at least 1")
    own_train, own_validation = read_digit_folders(args.train_dir), read_digit_folders(args.validation_dir)
    report_folder(args.train_dir, own_train)
    report_folder(args.validation_dir, own_validation)
    skipped = len(own_train.skipped) + len(own_validation.skipped)
    if not len(own_train.labels) and not len(own_validation.labels):
        raise InputError(f"no usable images in {args.train_dir} or {args.validation_dir} ({skipped} skipped)")

    (x_train, y_train), (x_test, y_test) = load_mnist(config.data, config.limit)
    x_all = np.concatenate([x_train, np.repeat(own_train.images, args.repeat, axis=0)])
    y_all = np.concatenate([y_train, np.repeat(own_train.labels, args.repeat)])

    from digits import plots, training
    from digits.model import as_float32, load_trained_model, predict_probabilities

    if args.model:
        model_file = find_model_file(args.model)
        model = load_trained_model(model_file)
        saved = model_file.parent / "run.json"
        config = replace(load_config(saved) if saved.is_file() else config, data=config.data, limit=config.limit,
                         epochs=args.fine_tune_epochs)
        before = scores(model, (x_test, y_test), (own_validation.images, own_validation.labels))
        print(accuracy_line(f"Before ({model_file})", before))
    else:
        before = None
        model = training.new_model(config)

    run = RunFolder(args.out)
    run.start(config, resume=False)
    history = training.fit(model, config, to_inputs(x_all), to_one_hot(y_all), run)
    model = as_float32(model, config)
    after = scores(model, (x_test, y_test), (own_validation.images, own_validation.labels))
    record = {
        "config": config.to_dict(),
        "data": data_summary(config.data, x_train, y_train, x_test, y_test),
        "own_digits": {
            "train_dir": args.train_dir, "validation_dir": args.validation_dir, "repeat": args.repeat,
            "train_counts": own_train.counts(), "validation_counts": own_validation.counts(),
            "skipped": own_train.skipped + own_validation.skipped, "continued_from": args.model,
        },
        "history": history,
        "accuracy_before": before,
        "accuracy_after": after,
        "provenance": provenance(),
    }
    run.save(model, record)

    shown = own_validation if len(own_validation.labels) else own_train
    probabilities = predict_probabilities(model, to_inputs(shown.images))
    figure = plots.save_own_digits(
        [thumbnail(path) for path in shown.paths[:48]], shown.images, shown.labels, probabilities,
        f"{args.figures}/own_digits.png", f"Your digits as given and as the network sees them ({args.out})",
    )
    print(f"Saved {run.model_keras}, {run.model_h5.name}, {run.record.name}; figure {figure}")
    print(accuracy_line("After", after))
    if skipped:
        print(f"{skipped} file(s) or folder(s) skipped")
    return 0


def predict_main(argv):
    args = build_predict_parser().parse_args(argv)
    model_file = find_model_file(args.model)
    images, readable, skipped = [], [], 0
    for path in args.files:
        try:
            images.append(read_digit_image(path))
            readable.append(path)
        except InputError as error:
            print(f"skipped {error}", file=sys.stderr)
            skipped += 1
    if not images:
        raise InputError(f"none of the {len(args.files)} file(s) could be read")

    from digits.model import load_trained_model, predict_probabilities

    probabilities = predict_probabilities(load_trained_model(model_file), to_inputs(np.stack(images)))
    for path, row in zip(readable, probabilities):
        best, second = np.argsort(-row)[:2]
        if args.json:
            print(json.dumps({"file": str(path), "digit": int(best), "probability": round(float(row[best]), 6),
                              "runner_up": int(second), "runner_up_probability": round(float(row[second]), 6)}))
        else:
            print(f"{path}: {best} ({row[best]:.1%}), runner-up {second} ({row[second]:.1%})")
    if skipped:
        print(f"{skipped} file(s) skipped", file=sys.stderr)
    return 0


def draw_main(argv):
    args = build_draw_parser().parse_args(argv)
    from digits import draw_app

    reader = draw_app.Reader(args.model)
    app = draw_app.create_app(reader, args.data_dir, args.port, args.host)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Warning: listening on {args.host}, not only this machine: anyone who can reach it can save "
              f"drawings into {args.data_dir}/.", file=sys.stderr)

    def ready(url):
        print(f"Model {reader.name}; drawings are saved in {args.data_dir}/train/<digit>/ and "
              f"{args.data_dir}/validation/<digit>/.")
        print(f"Open {url} to draw (Ctrl-C to stop).", flush=True)
        if args.open:
            import webbrowser

            webbrowser.open(url)

    try:
        draw_app.serve(app, args.host, args.port, ready)
    except KeyboardInterrupt:
        print("\nStopped.")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "predict":
        return predict_main(argv[1:])
    if argv and argv[0] == "draw":
        return draw_main(argv[1:])
    return train_main(argv[1:] if argv and argv[0] == "train" else argv)


if __name__ == "__main__":
    cli.run(main)
