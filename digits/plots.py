"""The report's figures, one function each, drawn headless and saved atomically.

Figures are built with matplotlib's object API (Figure, not pyplot), so nothing
needs a display and no figure outlives its function.
"""

from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch
from matplotlib.ticker import MaxNLocator, PercentFormatter
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from digits.files import atomic_path

DPI = 150
SERIES = {  # history column prefix -> legend label and colour
    "": ("training", "tab:blue"),
    "val_": ("validation", "tab:orange"),
}
METRIC_LABELS = {"accuracy": "accuracy (%)", "loss": "categorical cross-entropy loss"}


def save(fig, path):
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=DPI, bbox_inches="tight")
    return path


def save_digit_grid(images, labels, path, title="MNIST training digits"):
    """The report's Figure 1: the first nine images in a 3x3 grid, each titled with its label."""
    fig = Figure(figsize=(5, 5.4), layout="constrained")
    fig.suptitle(title, fontsize=13)
    for ax, image, label in zip(fig.subplots(3, 3).flat, images[:9], labels[:9]):
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"label {label}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    return save(fig, path)


def save_augmented_digits(images, labels, draws, path, title):
    """What the run's augmentation does: each image (rows) as it is, then several of its random draws.

    images: (N, 28, 28, 1) in [0, 1], labels: their N labels; draws: (D, N, 28, 28, 1) of them.
    """
    images, draws = np.asarray(images)[..., 0], np.asarray(draws)[..., 0]
    count, columns = len(images), 1 + len(draws)
    fig = Figure(figsize=(1.1 * columns, 1.1 * count + 0.8), layout="constrained")
    fig.suptitle(title, fontsize=11)
    axes = fig.subplots(count, columns, squeeze=False)
    for row in range(count):
        for column in range(columns):
            ax = axes[row, column]
            ax.imshow(images[row] if column == 0 else draws[column - 1][row], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title("as it is" if column == 0 else f"draw {column}", fontsize=9)
        axes[row, 0].set_ylabel(f"label {labels[row]}", fontsize=9)
    return save(fig, path)


def draw_metric(ax, history, metric, test_value=None):
    """One metric per epoch, for training and (if recorded) validation, plus the final test score."""
    scale = 100 if metric == "accuracy" else 1
    for prefix, (label, colour) in SERIES.items():
        if prefix + metric in history:
            values = [scale * value for value in history[prefix + metric]]
            ax.plot(history["epoch"], values, marker="o", markersize=3, color=colour, label=label)
    if test_value is not None:
        shown = f"{test_value:.2%}" if metric == "accuracy" else f"{test_value:.4f}"
        ax.plot(
            history["epoch"][-1], scale * test_value, marker="*", markersize=14, linestyle="none",
            color="tab:red", label=f"test, after training ({shown})",
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(METRIC_LABELS[metric])
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if metric == "accuracy" else "upper right")


def save_metric_curve(history, metric, path, title, test_value=None):
    """The report's Figure 9 (metric='accuracy') or Figure 10 (metric='loss')."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    draw_metric(ax, history, metric, test_value)
    ax.set_title(title, wrap=True)  # a recipe's settings make a long title
    return save(fig, path)


def class_colours():
    """Ten distinguishable colours, one per digit (matplotlib's tab10)."""
    return [f"C{digit}" for digit in range(10)]


def draw_roc(ax, roc, with_labels):
    for digit, colour in enumerate(class_colours()):
        curve = roc[str(digit)]
        ax.plot(curve["fpr"], curve["tpr"], color=colour, linewidth=1.2,
                label=f"digit {digit} (AUC {curve['auc']:.5f})" if with_labels else None)
    for name, style in (("micro", "--"), ("macro", ":")):
        curve = roc[name]
        ax.plot(curve["fpr"], curve["tpr"], color="black", linestyle=style, linewidth=2,
                label=f"{name}-average (AUC {curve['auc']:.5f})" if with_labels else None)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.grid(alpha=0.3)


def zoom_floor(values_at_corner):
    """Lower edge of a zoomed panel: a little under the lowest curve near the corner."""
    return max(0.0, np.floor(100 * min(values_at_corner)) / 100 - 0.01)


def save_roc_curves(roc, path, title):
    """The report's Figure 7: one-vs-rest ROC per digit with micro and macro averages, and a zoom
    on the top-left corner where the curves of a good model crowd together."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    fig.suptitle(title)
    whole, corner = fig.subplots(1, 2)
    draw_roc(whole, roc, with_labels=True)
    whole.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="chance (AUC 0.5)")
    whole.set_title("ROC curves, one digit against the rest")
    whole.legend(loc="lower right", fontsize=8.5)
    draw_roc(corner, roc, with_labels=False)
    corner.set_xscale("log")  # spreads out the curves that all hug the left edge
    corner.set_xlim(1e-4, 0.1)
    corner.set_ylim(zoom_floor([np.interp(1e-3, roc[str(d)]["fpr"], roc[str(d)]["tpr"]) for d in range(10)]), 1.0005)
    corner.set_xlabel("false positive rate (log scale)")
    corner.set_title("zoom on the top-left corner")
    return save(fig, path)


def draw_precision_recall(ax, pr, with_labels):
    for digit, colour in enumerate(class_colours()):
        curve = pr[str(digit)]
        ax.plot(curve["recall"], curve["precision"], color=colour, linewidth=1.2, drawstyle="steps-post",
                label=f"digit {digit} (AP {curve['average_precision']:.5f})" if with_labels else None)
    curve = pr["micro"]
    ax.plot(curve["recall"], curve["precision"], color="black", linestyle="--", linewidth=2, drawstyle="steps-post",
            label=f"micro-average (AP {curve['average_precision']:.5f})" if with_labels else None)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)


def save_precision_recall_curves(pr, path, title):
    """The report's Figure 6: precision-recall per digit and micro-averaged, average precision in the
    legend, and a zoom on the top-right corner."""
    fig = Figure(figsize=(13, 6), layout="constrained")
    fig.suptitle(title)
    whole, corner = fig.subplots(1, 2)
    draw_precision_recall(whole, pr, with_labels=True)
    whole.set_xlim(0, 1.01)
    whole.set_ylim(0, 1.01)
    whole.set_title("precision-recall curves, one digit against the rest")
    whole.legend(loc="lower left", fontsize=8.5)
    draw_precision_recall(corner, pr, with_labels=False)
    floor = zoom_floor([np.interp(0.9, pr[str(d)]["recall"][::-1], pr[str(d)]["precision"][::-1]) for d in range(10)])
    corner.set_xlim(0.9, 1.002)
    corner.set_ylim(floor, 1.002)
    corner.set_title("top-right corner, recall from 90%")
    return save(fig, path)


LAYER_COLOURS = {"Input": "#eeeeee", "Conv2D": "#c6dbef", "MaxPooling2D": "#fdd0a2", "Flatten": "#e5e5e5",
                 "Dropout": "#d9d9d9", "Dense": "#c7e9c0"}


def save_network(layers, path, title):
    """The network as a stack of layers, each with its settings, output shape and parameter count
    (rows from digits.model.layer_table), drawn top to bottom in the order data flows."""
    fig = Figure(figsize=(8, 0.62 * len(layers) + 0.9), layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_xlim(0, 10)
    ax.set_ylim(len(layers) - 0.4, -0.6)
    ax.set_axis_off()
    for row, layer in enumerate(layers):
        ax.add_patch(FancyBboxPatch((0.1, row - 0.3), 9.8, 0.6, boxstyle="round,pad=0,rounding_size=0.12",
                                    facecolor=LAYER_COLOURS.get(layer["kind"], "white"), edgecolor="0.35"))
        ax.text(0.35, row, layer["kind"], va="center", fontsize=11, fontweight="bold")
        ax.text(2.7, row, layer["detail"], va="center", fontsize=10)
        ax.text(6.6, row, " x ".join(map(str, layer["shape"])), va="center", ha="center", fontsize=10, family="monospace")
        parameters = f"{layer['parameters']:,} parameters" if layer["parameters"] else ""
        ax.text(9.7, row, parameters, va="center", ha="right", fontsize=10)
        if row:
            ax.annotate("", xy=(5, row - 0.3), xytext=(5, row - 0.7), arrowprops={"arrowstyle": "->", "color": "0.35"})
    ax.text(6.6, -0.5, "output shape", ha="center", va="bottom", fontsize=9, color="0.3")
    return save(fig, path)


def save_classification_report(report, path, title):
    """The report's Figure 5: precision, recall and F1 per digit and averaged, as a shaded table
    with each row's support, from scikit-learn's classification_report(output_dict=True)."""
    names = [str(digit) for digit in range(10)] + ["macro avg", "weighted avg"]
    columns = ["precision", "recall", "f1-score"]
    values = np.array([[report[name][column] for column in columns] for name in names])
    fig = Figure(figsize=(6.5, 6.8), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(values, cmap="Blues", vmin=min(values.min(), 0.98) - 0.02, vmax=1, aspect="auto")
    for (row, column), value in np.ndenumerate(values):
        ax.text(column, row, f"{value:.4f}", ha="center", va="center", fontsize=10,
                color="white" if image.norm(value) > 0.6 else "black")
    ax.set_xticks(range(len(columns)), columns)
    ax.xaxis.tick_top()
    ax.set_yticks(range(len(names)), names)
    ax.set_ylabel("digit")
    ax.axhline(9.5, color="black", linewidth=1.5)
    support = ax.secondary_yaxis("right")
    support.set_yticks(range(len(names)), [f"{int(report[name]['support']):,}" for name in names])
    support.set_ylabel("support (test images)")
    fig.colorbar(image, ax=ax, location="bottom", shrink=0.7, label="score")
    ax.set_title(f"{title}\naccuracy {report['accuracy']:.4f}")
    return save(fig, path)


def save_confusion_matrix(labels, predicted, path, title):
    """The report's Figure 8: counts, and each row normalized to the share of that true digit."""
    fig = Figure(figsize=(15, 6.5), layout="constrained")
    fig.suptitle(title)
    counts, shares = fig.subplots(1, 2)
    ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=range(10), ax=counts, cmap="Blues",
                                            values_format="d", colorbar=True)
    counts.set_title("test images (counts)")
    normalized = ConfusionMatrixDisplay.from_predictions(labels, predicted, labels=range(10), ax=shares, cmap="Blues",
                                                         normalize="true", values_format=".1%", colorbar=True)
    normalized.im_.colorbar.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    shares.set_title("share of each true digit (rows sum to 100%)")
    for ax in (counts, shares):
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        for text in ax.texts:
            text.set_fontsize(8)
    return save(fig, path)


HEAT_MAP_COLOURS = "RdBu_r"  # red: evidence for the class, blue: against it; white, none, drawn transparent


def draw_heat_map(ax, image, heat):
    """A digit (28x28, 0-255) as dark ink on white, with a signed heat map (28x28, in [-1, 1],
    digits.saliency.heat_map) over it: each pixel as opaque as its evidence is strong, so the ink
    shows through where the map is weak. Returns the map's image, for a colour bar."""
    ax.imshow(image, cmap="gray_r", vmin=0, vmax=2 * 255)  # ink in mid grey, so red and blue stand out on it
    shown = ax.imshow(heat, cmap=HEAT_MAP_COLOURS, vmin=-1, vmax=1, alpha=0.9 * np.clip(np.abs(heat), 0, 1))
    ax.set_xticks([])
    ax.set_yticks([])
    return shown


def heat_map_colour_bar(fig, shown, axes, label):
    """One colour bar for every heat map of a figure (they share the scale of draw_heat_map)."""
    bar = fig.colorbar(ScalarMappable(norm=shown.norm, cmap=shown.cmap), ax=axes, shrink=0.6, pad=0.01)
    bar.set_ticks([-1, 0, 1], labels=["against", "none", "for"])
    bar.set_label(label)


MISTAKES_SHOWN = 40  # the most confident mistakes drawn in one figure


def save_mistakes(images, wrong, path, title, heat_maps=None, columns=8, limit=MISTAKES_SHOWN):
    """The misclassified test digits, most confident mistakes first, with true and predicted labels;
    with heat_maps (one per mistake shown, digits.saliency.heat_map for the digit read), each drawn
    over its digit, so that each mistake shows where the evidence for the digit it read lies."""
    shown = wrong[:limit]
    rows = max(1, -(-len(shown) // columns))
    fig = Figure(figsize=(1.6 * columns + (1.2 if heat_maps is not None else 0), 1.85 * rows + 0.6),
                 layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for number, (ax, mistake) in enumerate(zip(axes.flat, shown)):
        image = images[mistake["index"]]
        if heat_maps is None:
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
        else:
            ax.set_axis_on()  # a frame, so the white paper shows against the white page
            heat = draw_heat_map(ax, image, heat_maps[number])
        ax.set_title(f"#{mistake['index']}: true {mistake['true']}, read {mistake['predicted']}\n"
                     f"{mistake['confidence']:.1%} sure", fontsize=9)
    if not shown:
        axes.flat[0].text(0.5, 0.5, "no mistakes", ha="center", va="center", fontsize=14)
    elif heat_maps is not None:
        heat_map_colour_bar(fig, heat, axes, "evidence for the digit read: red for it, blue against it")
    return save(fig, path)


def save_heat_maps(image, heat_maps, captions, path, title):
    """One image (28x28, 0-255) as the network sees it, then each heat map (digits.saliency.heat_map)
    drawn over it, captioned (e.g. the digit read, then the runner-up)."""
    fig = Figure(figsize=(2.2 * (1 + len(heat_maps)) + 1, 2.9), layout="constrained")
    fig.suptitle(title, fontsize=10)
    axes = fig.subplots(1, 1 + len(heat_maps))
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("as the network sees it", fontsize=9)
    for ax, heat, caption in zip(axes[1:], heat_maps, captions, strict=True):
        shown = draw_heat_map(ax, image, heat)
        ax.set_title(caption, fontsize=9)
    heat_map_colour_bar(fig, shown, axes[1:], "evidence for the digit:\nred for it, blue against it")
    return save(fig, path)


# The parts of a sweep's runs, as the sweep figures draw them: legend label, colour, marker, line style.
SWEEP_PARTS = {
    "train": ("train", "tab:blue", "o", "--"),
    "validation": ("validation", "tab:green", "^", ":"),
    "test": ("test", "tab:red", "s", "-"),
}


def accuracy_bands(per_point):
    """Mean and standard deviation (0 for one seed), in percent, of each point's accuracies over its seeds."""
    means, stds = [], []
    for values in per_point:
        values = [100 * value for value in values]
        means.append(np.mean(values))
        stds.append(np.std(values, ddof=1) if len(values) > 1 else 0.0)
    return np.array(means), np.array(stds)


def accuracy_ranges(per_point):
    """Mean, in percent, of each point's accuracies over its seeds, and the distances from it down to
    the lowest seed and up to the highest: the bars of the sweep line charts. Unlike ± std, they
    stay within what the seeds reached, which matters where one seed of a point collapses to chance."""
    means, below, above = [], [], []
    for values in per_point:
        values = [100 * value for value in values]
        means.append(np.mean(values))
        below.append(means[-1] - min(values))
        above.append(max(values) - means[-1])
    return np.array(means), np.array([below, above])


SEED_RANGE_LABEL = "accuracy (%): mean over seeds,\nbars from the lowest seed to the highest"


def seeds_label(per_point):
    """'3 seeds', '1 seed' or '1-3 seeds': how many seeds each point has."""
    counts = sorted({len(values) for values in per_point})
    return f"{counts[0]} seed{'s' if counts[0] > 1 else ''}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} seeds"


def save_sweep_axis(x, accuracies, parameter, path, title):
    """Train, validation and test accuracy against one swept setting (the report's Figures 4 and 11),
    the mean over seeds with bars from the lowest seed to the highest.

    x: the setting's values, ascending; accuracies: {part: each point's accuracies (0-1) over its
    seeds}, for any of "train", "validation" and "test".
    """
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for part, per_point in accuracies.items():
        label, colour, marker, _ = SWEEP_PARTS[part]
        means, ranges = accuracy_ranges(per_point)
        ax.errorbar(x, means, yerr=ranges, color=colour, marker=marker, capsize=4, label=f"{label} accuracy")
    if parameter == "batch_size":
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(value) for value in x])
    else:
        ax.set_xticks(x)
    ax.set_xlabel(parameter.replace("_", " "))
    ax.set_ylabel(SEED_RANGE_LABEL)
    ax.set_title(f"{title}\n({seeds_label(next(iter(accuracies.values())))} per point)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return save(fig, path)


def save_learning_rate_sweep(curves, path, title, close_up_points=2.0):
    """Accuracy against the learning rate, one colour per optimizer, in two panels: every rate on
    the full scale (test solid, validation dotted, train dashed), where a rate too high shows as a
    fall to chance; and a close-up of the top `close_up_points` points below the best test accuracy
    (test and validation only), where the optimizers' plateaus differ by tenths of a point.

    curves: {optimizer: (learning rates ascending, {part: each rate's accuracies (0-1) over its seeds})}.
    """
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    full, close = fig.subplots(1, 2)
    best = 0.0
    for colour, (optimizer, (rates, accuracies)) in zip(("tab:blue", "tab:orange", "tab:green"), curves.items()):
        for part in ("test", "validation", "train"):
            if part not in accuracies:
                continue
            means, ranges = accuracy_ranges(accuracies[part])
            style = dict(color=colour, linestyle=SWEEP_PARTS[part][3], marker="o", markersize=4, capsize=3,
                         label=f"{optimizer}, {part}")
            full.errorbar(rates, means, yerr=ranges, **style)
            if part != "train":
                close.errorbar(rates, means, yerr=ranges, **style)
            if part == "test":
                best = max(best, means.max())
    bottom = max(0.0, np.floor(2 * (best - close_up_points)) / 2)
    full.set_ylim(bottom=max(0, full.get_ylim()[0]))
    close.set_ylim(bottom, min(100.0, best + 0.5))
    full.set_title("every learning rate", fontsize=10)
    close.set_title(f"close-up of test and validation: within {close_up_points:g} points of the best test accuracy",
                    fontsize=10)
    for ax in (full, close):
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.set_ylabel(SEED_RANGE_LABEL)
        ax.grid(alpha=0.3, which="both")
    fig.legend(*full.get_legend_handles_labels(), loc="outside lower center", fontsize=9, ncols=len(curves))
    every_point = [values for _, accuracies in curves.values() for values in next(iter(accuracies.values()))]
    fig.suptitle(f"{title}\n({seeds_label(every_point)} per point)", fontsize=11)
    return save(fig, path)


def save_epoch_curves(histories, metric, path, title):
    """A metric per epoch for training, validation (when held out) and test (when recorded): one
    thin line per seed and their mean, thick (the report's Figures 9 and 10).

    histories: one per seed, each {"loss": [...], "val_loss": [...], "test_loss": [...], ...} by epoch.
    """
    scale = 100 if metric == "accuracy" else 1
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    for prefix, part, name in (("", "train", "training"), ("val_", "validation", "validation"), ("test_", "test", "test")):
        colour = SWEEP_PARTS[part][1]
        curves = [np.array(history[prefix + metric]) * scale for history in histories if prefix + metric in history]
        if not curves:
            continue
        epochs = np.arange(1, max(len(curve) for curve in curves) + 1)
        for curve in curves:
            ax.plot(epochs[: len(curve)], curve, color=colour, alpha=0.35, linewidth=0.8)
        length = min(len(curve) for curve in curves)
        mean = np.mean([curve[:length] for curve in curves], axis=0)
        ax.plot(epochs[:length], mean, color=colour, linewidth=2,
                label=f"{name}, mean of {len(curves)} seeds" if len(curves) > 1 else name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(METRIC_LABELS[metric])
    low, high = ax.get_ylim()
    if metric == "loss" and low > 0 and high / low > 10:  # a loss falling over decades reads best on a log axis
        ax.set_yscale("log")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right" if metric == "accuracy" else "upper right")
    return save(fig, path)


OWN_DIGITS_SHOWN = 48  # at most this many of a person's digits in one figure


def save_own_digits(originals, converted, labels, probabilities, path, title, limit=OWN_DIGITS_SHOWN):
    """The report's Figure 12 and more: each image as given and as the network sees it (28x28),
    with the true digit, the digit read and its probability; misreadings in red."""
    count = min(len(converted), limit)
    columns = 4  # pairs per row
    rows = max(1, -(-count // columns))
    fig = Figure(figsize=(2.6 * columns, 1.55 * rows + 0.7), layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(rows, 2 * columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i in range(count):
        given, seen = axes[i // columns, 2 * (i % columns)], axes[i // columns, 2 * (i % columns) + 1]
        read = int(np.argmax(probabilities[i]))
        given.imshow(originals[i], cmap="gray" if originals[i].ndim == 2 else None, vmin=0, vmax=255)
        given.set_axis_on()  # a frame, so white paper shows against the white page
        given.set_xticks([])
        given.set_yticks([])
        given.set_title(f"given: {labels[i]}", fontsize=8)
        seen.imshow(converted[i], cmap="gray", vmin=0, vmax=255)  # fixed scale: a flat image keeps its own grey
        seen.set_axis_on()
        seen.set_xticks([])
        seen.set_yticks([])
        seen.set_title(f"read {read} ({probabilities[i][read]:.0%})", fontsize=8,
                       color="tab:red" if read != labels[i] else "black", fontweight="bold" if read != labels[i] else None)
    return save(fig, path)


RELIABILITY_COLOURS = ("tab:red", "tab:blue", "tab:green")


def save_reliability_diagram(curves, path, title):
    """Reliability diagram: the share read right against the confidence of the digit read, in equal-width
    confidence bins, with the diagonal a perfectly calibrated model follows, each curve's ECE in the legend,
    and below, the images in each bin (log scale, with their counts).

    curves: {legend label: (digits.calibration.reliability table, its ECE)}, e.g. before and after
    calibration; empty bins are left out of the curves.
    """
    fig = Figure(figsize=(7.5, 8), layout="constrained")
    diagram, counts = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3))
    diagram.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle="--", label="perfectly calibrated")
    for i, (colour, (label, (table, ece))) in enumerate(zip(RELIABILITY_COLOURS, curves.items())):
        filled = table["count"] > 0
        diagram.plot(table["confidence"][filled], table["accuracy"][filled], color=colour, marker="o", markersize=5,
                     label=f"{label}: ECE {ece:.2%}")
        edges = table["edges"]
        width = np.diff(edges) / len(curves)
        left = edges[:-1] + i * width
        bars = counts.bar(left, table["count"], width=width, align="edge", color=colour, alpha=0.75, label=label)
        counts.bar_label(bars, labels=[f"{count:,}" if count else "" for count in table["count"]], fontsize=6,
                         rotation=90, padding=2)
    diagram.set_xlim(0, 1)
    diagram.set_ylim(0, 1.02)
    diagram.set_ylabel("share read right (accuracy per bin)")
    diagram.set_title(title)
    diagram.grid(alpha=0.3)
    diagram.legend(loc="best")
    counts.set_yscale("log")
    most = max(int(table["count"].max()) for table, _ in curves.values())
    counts.set_ylim(0.8, 30 * max(most, 1))  # room above the tallest bar for its count
    counts.set_xlabel("confidence: the probability of the digit read (bin mean above, bin below)")
    counts.set_ylabel("images per bin")
    counts.grid(alpha=0.3, axis="y")
    counts.legend(loc="upper left", fontsize=8)
    return save(fig, path)


# A recipe whose every seed lies this many points below the median recipe is drawn as a note at
# the left edge, so that one that fails does not squeeze the differences between the others.
OFF_SCALE_POINTS = 1.0


def off_scale_rows(per_part):
    """The rows (recipes) of save_recipe_comparison left off its scale (OFF_SCALE_POINTS).

    per_part: {part: each recipe's accuracies (0-1) over its seeds}."""
    means = [100 * np.mean(values) for per_point in per_part.values() for values in per_point]
    floor = np.median(means) - OFF_SCALE_POINTS
    rows = range(len(next(iter(per_part.values()))))
    return {row for row in rows if all(100 * max(per_point[row]) < floor for per_point in per_part.values())}


def save_recipe_comparison(names, accuracies, path, title):
    """Validation and test accuracy of each named recipe, one row each, mean ± std over seeds
    with each seed as a dot (the recipe experiment of docs/BEYOND.md); a recipe far below the
    others (off_scale_rows) is an arrow at the left edge with its means written beside it.

    names: one per recipe, top to bottom; accuracies: {part: each recipe's accuracies (0-1) over
    its seeds}, for "validation" and "test" (train, measured with dropout and augmentation on,
    is left out: it is not comparable across recipes).
    """
    parts = {part: per_point for part, per_point in accuracies.items() if part != "train"}
    off_scale = off_scale_rows(parts)
    fig = Figure(figsize=(8, 1.2 + 0.55 * len(names)), layout="constrained")
    ax = fig.subplots()
    rows = np.arange(len(names))
    on_scale = [row for row in rows if row not in off_scale]
    bands = {part: accuracy_bands(per_point) for part, per_point in parts.items()}  # (means, stds), every row
    left = min(min(100 * min(per_point[row]), bands[part][0][row] - bands[part][1][row])
               for part, per_point in parts.items() for row in on_scale) - 0.1
    for offset, (part, per_point) in zip((-0.15, 0.15), parts.items()):
        label, colour, marker, _ = SWEEP_PARTS[part]
        means, stds = bands[part]
        ax.errorbar(means[on_scale], np.array(on_scale) + offset, xerr=stds[on_scale], color=colour, marker=marker,
                    linestyle="none", capsize=4, label=f"{label} accuracy, mean ± std")
        for row in on_scale:
            values = [100 * value for value in per_point[row]]
            ax.scatter(values, [row + offset] * len(values), color=colour, s=10, alpha=0.5)
        for row in off_scale:
            ax.plot([left], [row + offset], marker="<", color=colour, markersize=8, clip_on=False)
    for row in sorted(off_scale):
        written = ", ".join(f"{SWEEP_PARTS[part][0]} {bands[part][0][row]:.2f} ± {bands[part][1][row]:.2f}%"
                            for part in parts)
        ax.annotate(f"off the scale: {written}", (left, row), xytext=(12, 0), textcoords="offset points",
                    va="center", fontsize=9)
    ax.set_xlim(left=left)
    ax.set_yticks(rows, names)
    ax.invert_yaxis()
    ax.set_xlabel("accuracy (%); small dots: single seeds")
    ax.set_title(f"{title}\n({seeds_label(next(iter(parts.values())))} per recipe)", fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncols=2, fontsize=9)
    return save(fig, path)
