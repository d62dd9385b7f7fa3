"""RunConfig: everything that decides what a training run learns.

One object, used by the command line (each field carries its flag's help: digits.cli), the
sweeps and the saved run record (run.json), so that any result can be rebuilt from its saved
config and seed. Defaults are the report's: three 64-filter 3x3 convolutions, dropout 0.3,
Adam, batch 64, 15 epochs, no augmentation, a constant learning rate. RECIPES names the
combinations beyond the report (`--recipe modern`, `--recipe fast`).
"""

from dataclasses import asdict, dataclass, field, fields, replace
import json
from pathlib import Path

from digits.errors import InputError

IMAGE_SIZE = 28
NUM_CLASSES = 10
OPTIMIZERS = ("adam", "sgd", "rmsprop")
# Keras dtype policies; "auto" is mixed_bfloat16 on a CPU with native bfloat16, else float32
# (digits.hardware.precision_policy). Mixed policies compute in 16 bits and keep float32 weights.
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
XLA_CHOICES = ("auto", "on", "off")  # auto: Keras's choice, on for a GPU and off for a CPU
# The largest setting of each augmentation that still leaves a digit a digit.
AUGMENTATION_LIMITS = {"rotation": 45.0, "shift": 0.3, "zoom": 0.5, "shear": 45.0, "stroke": 1.0,
                       "elastic": 60.0}
REPORT_EPOCHS = 15
SCHEDULES = ("constant", "cosine")  # cosine: linear warmup over warmup_epochs, then cosine decay to zero


def setting(default, group, help, **flag):
    """A RunConfig field with what its command-line flag needs: its group of flags (digits.cli), a one-line
    help, and argparse options such as metavar or choices."""
    return field(default=default, metadata={"group": group, "help": help, **flag})


@dataclass(frozen=True)
class RunConfig:
    data: str | None = setting(None, "data", "mnist (default), keras, an .npz or an IDX folder",
                               metavar="PATH")
    limit: int | None = setting(None, "data", "train on the first N training images only", metavar="N")
    # The network: Conv2D(filters[i], kernel) -> MaxPooling2D(pool) for each count, the last conv unpooled.
    filters: tuple[int, ...] = setting((64, 64, 64), "model", "filters of each conv layer", metavar="F1,F2,...")
    kernel_size: int = setting(3, "model", "side of each convolution kernel", metavar="N")
    pool_size: int = setting(2, "model", "side of each max-pooling window", metavar="N")
    dropout: float = setting(0.3, "model", "dropout before the Dense layer", metavar="RATE")
    optimizer: str = setting("adam", "training", "adam, sgd or rmsprop", choices=OPTIMIZERS, metavar="NAME")
    learning_rate: float | None = setting(None, "training", "step size (default: the optimizer's own)",
                                          metavar="LR")
    epochs: int = setting(REPORT_EPOCHS, "training", "passes over the training data", metavar="N")
    batch_size: int = setting(64, "training", "images per gradient step", metavar="N")
    validation_split: float = setting(0.0, "training", "hold out this last share for validation",
                                      metavar="SHARE")
    schedule: str = setting("constant", "recipe", "constant, or cosine: warmup, then decay to 0", choices=SCHEDULES,
                            metavar="NAME")
    warmup_epochs: float = setting(0.0, "recipe", "epochs of warmup of the cosine schedule", metavar="N")
    label_smoothing: float = setting(0.0, "recipe", "share of each target spread over all ten",
                                     metavar="SHARE")
    # Augmentation, each image its own draw, uniform in [-setting, setting] (digits.augment); 0 turns one off.
    rotation: float = setting(0.0, "recipe", "augmentation: largest rotation", metavar="DEG")
    shift: float = setting(0.0, "recipe", "augmentation: largest shift, share of the side", metavar="SHARE")
    zoom: float = setting(0.0, "recipe", "augmentation: largest zoom in or out", metavar="SHARE")
    shear: float = setting(0.0, "recipe", "augmentation: largest shear", metavar="DEG")
    stroke: float = setting(0.0, "recipe", "augmentation: thicker or thinner strokes", metavar="PX")
    elastic: float = setting(0.0, "recipe", "augmentation: elastic distortion's strength", metavar="PX")
    outlier_exposure: float = setting(0.0, "recipe", "weight of a loss giving made non-digits no digit",
                                      metavar="WEIGHT")
    batch_norm: bool = setting(False, "model", "batch norm after each conv")
    seed: int = setting(1, "training", "seed of every random draw", metavar="N")
    deterministic: bool = setting(False, "training", "repeatable ops, slower")
    precision: str = setting("auto", "speed", "auto, float32, mixed_bfloat16, mixed_float16", choices=PRECISIONS,
                             metavar="P")
    xla: str = setting("auto", "speed", "XLA: auto (on a GPU only), on or off", choices=XLA_CHOICES, metavar="X")

    def __post_init__(self):
        object.__setattr__(self, "filters", tuple(self.filters))
        problems = list(self.problems())
        if problems:
            raise InputError("; ".join(problems))

    def problems(self):
        """Yield a message for each setting that cannot make a working run."""
        if self.limit is not None and self.limit < 1:
            yield f"limit must be at least 1, got {self.limit}"
        if not self.filters or any(f < 1 for f in self.filters):
            yield f"filters must be one or more positive counts, got {self.filters}"
        if self.kernel_size < 1 or self.pool_size < 1:
            yield f"kernel size and pool size must be at least 1, got {self.kernel_size} and {self.pool_size}"
        elif self.filters and self.feature_map_size() < 1:
            yield (
                f"{len(self.filters)} conv layers with kernel {self.kernel_size} and pool "
                f"{self.pool_size} shrink a {IMAGE_SIZE}x{IMAGE_SIZE} image to nothing"
            )
        if not 0 <= self.dropout < 1:
            yield f"dropout must be in [0, 1), got {self.dropout}"
        if self.optimizer not in OPTIMIZERS:
            yield f"unknown optimizer {self.optimizer!r}: choose from {', '.join(OPTIMIZERS)}"
        if self.learning_rate is not None and not self.learning_rate > 0:
            yield f"learning rate must be positive, got {self.learning_rate}"
        if self.epochs < 1:
            yield f"epochs must be at least 1, got {self.epochs}"
        if self.batch_size < 1:
            yield f"batch size must be at least 1, got {self.batch_size}"
        if not 0 <= self.validation_split < 1:
            yield f"validation split must be in [0, 1), got {self.validation_split}"
        if self.schedule not in SCHEDULES:
            yield f"unknown schedule {self.schedule!r}: choose from {', '.join(SCHEDULES)}"
        if self.warmup_epochs < 0:
            yield f"warmup epochs must be in [0, epochs), got {self.warmup_epochs:g}"
        elif self.epochs >= 1 and self.warmup_epochs >= self.epochs:  # bad epochs are named above, alone
            yield f"warmup epochs must be in [0, epochs), got {self.warmup_epochs:g} of {self.epochs}"
        elif self.warmup_epochs and self.schedule == "constant":
            yield "warmup epochs go with the cosine schedule; the constant one has no warmup"
        if not 0 <= self.label_smoothing < 1:
            yield f"label smoothing must be in [0, 1), got {self.label_smoothing}"
        if self.outlier_exposure < 0:
            yield f"outlier exposure must be 0 or more, got {self.outlier_exposure:g}"
        for name, largest in AUGMENTATION_LIMITS.items():
            value = getattr(self, name)
            if not 0 <= value <= largest:
                yield f"{name} must be between 0 and {largest:g}, got {value:g}"
        if self.precision not in PRECISIONS:
            yield f"unknown precision {self.precision!r}: choose from {', '.join(PRECISIONS)}"
        if self.xla not in XLA_CHOICES:
            yield f"xla must be one of {', '.join(XLA_CHOICES)}, got {self.xla!r}"
        if self.seed < 0:
            yield f"seed must be 0 or more, got {self.seed}"

    def feature_map_size(self):
        """Side of the last conv layer's output: 'valid' convs shrink, pools divide."""
        size = IMAGE_SIZE
        for layer in range(len(self.filters)):
            size -= self.kernel_size - 1
            if size < 1:
                return size
            if layer < len(self.filters) - 1:
                size //= self.pool_size
        return size

    def augments(self):
        """Whether any augmentation is on."""
        return any(getattr(self, name) for name in AUGMENTATION_LIMITS)

    def describe(self):
        """A short title for figures and logs, e.g. '64-64-64 CNN, adam, dropout 0.3, batch 64', with
        what goes beyond the report's recipe after it, e.g. ', augmented, cosine schedule'."""
        layers = "-".join(str(f) for f in self.filters)
        optimizer = self.optimizer if self.learning_rate is None else f"{self.optimizer} lr {self.learning_rate:g}"
        extras = [
            f"{self.epochs} epochs" if self.epochs != REPORT_EPOCHS else "",
            "batch norm" if self.batch_norm else "",
            "augmented" if self.augments() else "",
            f"{self.schedule} schedule" if self.schedule != "constant" else "",
            f"label smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
            f"outlier exposure {self.outlier_exposure:g}" if self.outlier_exposure else "",
        ]
        return ", ".join([f"{layers} CNN", optimizer, f"dropout {self.dropout:g}", f"batch {self.batch_size}",
                          *filter(None, extras)])

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, values, source="config"):
        """Build a config from a dict such as run.json's "config", naming unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InputError(f"{source}: unknown config field(s) {', '.join(unknown)}")
        try:
            return cls(**values)
        except TypeError as error:  # a value of the wrong type, e.g. epochs "ten"
            raise InputError(f"{source}: {error}") from None


# Named combinations of settings (`--recipe NAME`); flags given beside one override it. "modern"
# and "fast" hold out a validation slice: their settings were chosen on it, and the temperature
# that calibrates their probabilities is fitted on it. docs/BEYOND.md tells how each was chosen.
RECIPES = {
    "report": {},
    "modern": {
        "rotation": 10.0, "shift": 0.1, "zoom": 0.1, "shear": 10.0, "stroke": 0.5,
        "schedule": "cosine", "warmup_epochs": 1.0, "learning_rate": 0.002, "label_smoothing": 0.1,
        "batch_norm": False, "epochs": 25, "dropout": 0.1, "validation_split": 0.1,
    },
    "fast": {
        "filters": (32, 32, 32), "batch_size": 256, "schedule": "cosine",
        "warmup_epochs": 0.5, "learning_rate": 0.016, "epochs": 3, "validation_split": 0.1,
    },
}


def recipe(name, base=None):
    """`base` (default: the report's settings) with the named recipe's settings over it."""
    if name not in RECIPES:
        raise InputError(f"unknown recipe {name!r}: choose from {', '.join(RECIPES)}")
    return replace(base or RunConfig(), **RECIPES[name])


def load_config(path):
    """Read a RunConfig from a run.json (its "config") or a bare config JSON file."""
    path = Path(path)
    if path.is_dir():
        path = path / "run.json"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: cannot read a config from it ({error})") from None
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object")
    return RunConfig.from_dict(record.get("config", record), source=str(path))
