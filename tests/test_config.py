"""RunConfig and the command-line flags that fill it."""

import json

import pytest

from digits import cli
from digits.config import RunConfig, load_config
from digits.errors import InputError


def parse(argv, base=None):
    parser = cli.ArgumentParser(prog="test")
    cli.add_data_arguments(parser)
    cli.add_model_arguments(parser)
    cli.add_training_arguments(parser)
    cli.add_speed_arguments(parser, "threads")
    return cli.config_from(parser.parse_args(argv), base)


def test_defaults_are_the_reports(monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    config = parse([])
    assert config == RunConfig(data="mnist")  # the MNIST shipped in data/mnist/
    assert (config.filters, config.kernel_size, config.pool_size, config.dropout) == ((64, 64, 64), 3, 2, 0.3)
    assert (config.optimizer, config.learning_rate, config.epochs, config.batch_size) == ("adam", None, 15, 64)
    assert config.validation_split == 0


def test_flags_fill_the_config(monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    config = parse(
        "--data d.npz --limit 500 --filters 32,64 --kernel-size 5 --pool-size 3 --dropout 0.1 --optimizer sgd "
        "--learning-rate 0.05 --epochs 3 --batch-size 128 --validation-split 0.1 --seed 7 --deterministic".split()
    )
    assert config == RunConfig(
        data="d.npz", limit=500, filters=(32, 64), kernel_size=5, pool_size=3, dropout=0.1, optimizer="sgd",
        learning_rate=0.05, epochs=3, batch_size=128, validation_split=0.1, seed=7, deterministic=True,
    )


def test_speed_flags_fill_the_config(monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    assert parse([]).precision == "auto" and parse([]).xla == "auto"
    assert parse(["--precision", "float32", "--xla", "off"]) == RunConfig(data="mnist", precision="float32", xla="off")
    assert parse(["--mixed-precision"]).precision == "mixed_bfloat16"


def test_mnist_data_environment_variable_is_the_default_data(monkeypatch):
    monkeypatch.setenv("MNIST_DATA", "/somewhere/mnist")
    assert parse([]).data == "/somewhere/mnist"
    assert parse(["--data", "other.npz"]).data == "other.npz"


def test_a_base_config_fills_the_flags_left_out(monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    base = RunConfig(optimizer="rmsprop", epochs=4, filters=(16, 16))
    assert parse(["--epochs", "6"], base=base) == RunConfig(data="mnist", optimizer="rmsprop", epochs=6, filters=(16, 16))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"epochs": -1}, "epochs must be at least 1, got -1"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"optimizer": "adagrad"}, "unknown optimizer 'adagrad': choose from adam, sgd, rmsprop"),
        ({"dropout": 1.0}, "dropout must be in [0, 1)"),
        ({"learning_rate": 0.0}, "learning rate must be positive"),
        ({"batch_size": 0}, "batch size must be at least 1"),
        ({"limit": 0}, "limit must be at least 1"),
        ({"validation_split": 1.0}, "validation split must be in [0, 1)"),
        ({"filters": ()}, "filters must be one or more positive counts"),
        ({"filters": (64, 64, 64, 64)}, "4 conv layers with kernel 3 and pool 2 shrink a 28x28 image to nothing"),
        ({"kernel_size": 0}, "kernel size and pool size must be at least 1"),
        ({"seed": -3}, "seed must be 0 or more"),
        ({"precision": "half"}, "unknown precision 'half': choose from auto, float32, mixed_bfloat16, mixed_float16"),
        ({"xla": "yes"}, "xla must be one of auto, on, off"),
    ],
)
def test_impossible_settings_are_refused(values, message):
    with pytest.raises(InputError) as error:
        RunConfig(**values)
    assert message in str(error.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(InputError, match="epochs must be at least 1, got 0; batch size must be at least 1"):
        RunConfig(epochs=0, batch_size=0)


def test_feature_map_size_follows_the_layers():
    assert RunConfig().feature_map_size() == 3  # 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5 -conv-> 3
    assert RunConfig(filters=(8,)).feature_map_size() == 26


def test_json_round_trip_through_a_run_record(tmp_path):
    config = RunConfig(filters=(32, 48), optimizer="sgd", learning_rate=0.02, seed=9)
    (tmp_path / "run.json").write_text(json.dumps({"config": config.to_dict(), "test": {"accuracy": 0.9}}))
    assert load_config(tmp_path) == config
    assert load_config(tmp_path / "run.json") == config


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"config": {"epochs": 3, "colour": "red"}}', "unknown config field(s) colour"),
        ('{"config": {"epochs": "ten"}}', "run.json"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "cannot read a config"),
    ],
)
def test_bad_config_files(tmp_path, text, message):
    (tmp_path / "run.json").write_text(text)
    with pytest.raises(InputError, match="run.json") as error:
        load_config(tmp_path / "run.json")
    assert message in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(InputError, match="run.json: no such file"):
        load_config(tmp_path)


def test_a_switch_turns_a_setting_on_or_off_over_its_base(monkeypatch):
    monkeypatch.delenv("MNIST_DATA", raising=False)
    with_batch_norm = RunConfig(batch_norm=True, deterministic=True)
    assert parse(["--batch-norm", "--deterministic"]) == RunConfig(data="mnist", batch_norm=True, deterministic=True)
    assert parse(["--no-batch-norm"], base=with_batch_norm) == RunConfig(data="mnist", deterministic=True)
    assert parse([], base=with_batch_norm) == RunConfig(data="mnist", batch_norm=True, deterministic=True)


@pytest.mark.parametrize("epochs", [-3, 0])
def test_bad_epochs_are_named_alone_not_with_the_warmup_nobody_gave(epochs):
    with pytest.raises(InputError) as error:
        RunConfig(epochs=epochs)
    assert str(error.value) == f"epochs must be at least 1, got {epochs}"


@pytest.mark.parametrize("values, message", [
    ({"schedule": "cosine", "warmup_epochs": -1.0}, "warmup epochs must be in [0, epochs), got -1"),
    ({"schedule": "cosine", "warmup_epochs": -1.0, "epochs": 0}, "epochs must be at least 1, got 0; warmup epochs"),
    ({"schedule": "cosine", "epochs": 2, "warmup_epochs": 2.0}, "warmup epochs must be in [0, epochs), got 2 of 2"),
])
def test_a_bad_warmup_is_named(values, message):
    with pytest.raises(InputError) as error:
        RunConfig(**values)
    assert message in str(error.value)
