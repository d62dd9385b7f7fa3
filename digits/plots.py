"""The report's figures, one function each, drawn headless and saved atomically.

Figures are built with matplotlib's object API (Figure, not pyplot), so nothing
needs a display and no figure outlives its function.
"""

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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
        ax.imshow(image, cmap="gray")
        ax.set_title(f"label {label}", fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
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
    ax.set_title(title)
    return save(fig, path)


def save_training_curves(history, path, title, test=None):
    """Accuracy and loss per epoch side by side: the run folder's at-a-glance view."""
    test = test or {}
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    fig.suptitle(title)
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss")):
        draw_metric(ax, history, metric, test.get(metric))
        ax.set_title(f"{metric} per epoch")
    return save(fig, path)
