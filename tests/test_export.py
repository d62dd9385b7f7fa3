"""export_model.py and reading with its exports (digits.export, digits.export_folder, digits.runtimes): every format checked against
Keras and recorded, the temperature applied exactly once, stale exports left alone, and predict with an
export reading the same digits without importing TensorFlow."""

import json
from pathlib import Path
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image
import pytest

from digits.calibration import calibrated
from digits.run_folder import temperature_of
from digits.data import to_inputs
from digits.ensemble import Ensemble
from digits.errors import InputError
from digits.export_folder import FILES, fresh_export, read_record
from digits.files import sha256_of
from digits.runtimes import ExportedModel

ROOT = Path(__file__).resolve().parent.parent


def script(name, *args, importtime=False):
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, str(ROOT / name), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tiny_runs, tmp_path_factory):
    """A copy of the tiny calibrated run (conftest), exported in every format by export_model.py; and its output."""
    run = tmp_path_factory.mktemp("export") / "calibrated"
    shutil.copytree(tiny_runs["calibrated"], run)
    result = script("export_model.py", run)
    assert result.returncode == 0, result.stderr
    return run, result.stdout


@pytest.fixture(scope="module")
def test_images(digits_npz):
    data = np.load(digits_npz)
    return data["x_test"][:40], data["y_test"][:40]


def keras_reading(path, inputs):
    return Ensemble([path], "keras").probabilities(inputs)[1]


@pytest.mark.slow
def test_every_format_is_written_checked_and_recorded(exported):
    run, output = exported
    record = read_record(run / "export")
    assert record["model_sha256"] == sha256_of(run / "model.keras")
    assert record["temperature"] == temperature_of(run) is not None
    assert set(record["formats"]) == set(FILES)
    for kind, entry in record["formats"].items():
        assert (run / "export" / entry["file"]).exists() and entry["file"] == FILES[kind]
        assert entry["check"]["images"] == 297 and entry["converter"] and entry["runtime"]
        assert f"{kind} " in output
        if kind != "savedmodel":
            assert entry["sha256"] == sha256_of(run / "export" / entry["file"])
        if kind != "tflite-int8":
            assert entry["check"]["agreement"] == 1 and entry["check"]["max_abs_difference"] < 1e-4
    assert record["formats"]["tflite-int8"]["representative_images"] == 500
    assert f"Wrote {run / 'export' / 'export.json'}" in output
    assert not list((run / "export").glob(".*"))  # no temporary file or folder left behind


@pytest.mark.slow
def test_an_export_reads_as_the_calibrated_keras_model_with_the_temperature_applied_once(exported, test_images):
    run, _ = exported
    inputs = to_inputs(test_images[0])
    temperature = temperature_of(run)
    expected = keras_reading(run, inputs)
    uncalibrated = Ensemble([run]).read_copies(inputs)[0][0]
    for name in ("model.onnx", "model.tflite"):
        ensemble = Ensemble([run / "export" / name], "auto")
        member = ensemble.members[0]
        assert member.exported and member.temperature == temperature and ensemble.temperatures() == [1.0]
        assert "applied inside the export" in member.describe_temperature()
        read = ensemble.probabilities(inputs)[1]
        np.testing.assert_allclose(read, expected, atol=1e-5)
        assert np.abs(read - uncalibrated).max() > 1e-3  # not applied: the raw model's probabilities
        assert np.abs(read - calibrated(expected, temperature)).max() > 1e-3  # applied twice
    int8 = ExportedModel(run / "export" / "model_int8.tflite").probabilities(inputs)
    assert np.mean(int8.argmax(axis=1) == expected.argmax(axis=1)) >= 0.9


@pytest.mark.slow
def test_the_saved_model_reads_as_keras(exported, test_images):
    from digits.export import read_saved_model

    run, _ = exported
    inputs = to_inputs(test_images[0])
    np.testing.assert_allclose(read_saved_model(run / "export" / "saved_model", inputs), keras_reading(run, inputs),
                               atol=1e-5)


@pytest.mark.slow
def test_an_ensemble_applies_each_keras_members_temperature_and_no_exports(exported, tiny_runs, test_images):
    run, _ = exported
    inputs = to_inputs(test_images[0])
    ensemble = Ensemble([run / "export" / "model.onnx", tiny_runs["calibrated"]], "auto")  # the same model, unexported
    assert [member.exported for member in ensemble.members] == [True, False]
    assert ensemble.temperatures() == [1.0, temperature_of(run)]
    each, average = ensemble.probabilities(inputs)
    np.testing.assert_allclose(each[0], each[1], atol=1e-5)
    np.testing.assert_allclose(average, keras_reading(run, inputs), atol=1e-5)


@pytest.mark.slow
def test_auto_reads_only_a_fresh_export(exported, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported[0], run)
    assert fresh_export(run / "model.keras", "auto") == run / "export" / "model.onnx"
    assert fresh_export(run / "model.keras", "tflite") == run / "export" / "model.tflite"
    assert fresh_export(run / "model.keras", "keras") is None
    (run / "export" / "model.onnx").unlink()
    assert fresh_export(run / "model.keras", "auto") == run / "export" / "model.tflite"

    record = json.loads((run / "run.json").read_text())
    record["calibration"]["temperature"] *= 1.1  # recalibrated since the export
    (run / "run.json").write_text(json.dumps(record))
    assert fresh_export(run / "model.keras", "auto") is None
    ensemble = Ensemble([run], "auto")
    assert not ensemble.members[0].exported and ensemble.members[0].model_file == run / "model.keras"
    with pytest.raises(InputError, match="no fresh export to read with --runtime tflite"):
        fresh_export(run / "model.keras", "tflite")
    with pytest.raises(InputError, match="expected a .keras or .h5 model"):
        Ensemble([run / "export" / "model.tflite"], "keras")


@pytest.mark.slow
def test_predict_with_an_export_reads_the_same_digits_without_tensorflow(exported, test_images, tmp_path):
    run, _ = exported
    images, _ = test_images
    files = []
    for i, image in enumerate(images[:8]):
        files.append(tmp_path / f"digit-{i}.png")
        Image.fromarray(image).save(files[-1])
    from digits.own_digits import read_digit_image

    expected = keras_reading(run, to_inputs(np.stack([read_digit_image(file) for file in files]))).argmax(axis=1)
    for model, read_with in ((run, "ONNX Runtime"), (run / "export" / "model.tflite", "LiteRT")):
        result = script("add_own_digits.py", "predict", "--model", model, "--json", *files, importtime=True)
        assert result.returncode == 0, result.stderr
        assert [json.loads(line)["digit"] for line in result.stdout.splitlines()] == expected.tolist()
        assert f"read with {read_with}" in result.stderr
        imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                    if line.startswith("import time:")}
        assert "onnxruntime" in imported or "ai_edge_litert" in imported
        assert not imported & {"tensorflow", "keras", "sklearn"}, imported & {"tensorflow", "keras", "sklearn"}


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = script("export_model.py", tmp_path / "nowhere")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"export_model.py: error: {tmp_path / 'nowhere'}: no such file or folder"]

    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"not exported")
    Image.fromarray(np.eye(28, dtype=np.uint8) * 255).save(tmp_path / "digit.png")
    result = script("add_own_digits.py", "predict", "--model", run, "--runtime", "onnx", tmp_path / "digit.png")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no fresh export to read with --runtime onnx (none was made)" in result.stderr
    assert "python export_model.py" in result.stderr


@pytest.mark.slow
def test_one_format_alone_is_exported(tiny_runs, tmp_path):
    """ONNX on its own, with no SavedModel made first: the calibrated model Keras exports is a new one."""
    result = script("export_model.py", tiny_runs["calibrated"], "--format", "onnx", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["export.json", "model.onnx"]
    assert list(read_record(tmp_path)["formats"]) == ["onnx"]


def test_a_failed_check_writes_nothing(tiny_runs, digits_npz, tmp_path, monkeypatch):
    from digits import export
    from digits.ensemble import load_member

    member = load_member(tiny_runs["plain"])
    assert export.calibrated_model(member.model, None, member.model_file) is member.model
    data = np.load(digits_npz)
    inputs, labels = to_inputs(data["x_test"][:20]), data["y_test"][:20]
    monkeypatch.setattr(export, "FLOAT_TOLERANCE", -1.0)
    with pytest.raises(export.CheckFailed, match="check failed, not written"):
        export.export_checked(member.model, "onnx", tmp_path, inputs, labels, member.read(inputs), data["x_train"])
    assert not list(tmp_path.iterdir())


def test_an_int8_conversion_prints_nothing_and_other_converter_output_still_shows(tiny_runs, test_images, tmp_path,
                                                                                   capfd):
    import os

    from digits import export
    from digits.model import load_trained_model

    model = load_trained_model(tiny_runs["plain"] / "model.keras")
    capfd.readouterr()
    export.export_tflite(model, tmp_path / "model-int8.tflite", representative=to_inputs(test_images[0][:20]))
    assert (tmp_path / "model-int8.tflite").stat().st_size and "fully_quantize" not in capfd.readouterr().err
    with export.converter_notice_dropped():
        os.write(2, b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32\nsomething else\n")
    assert capfd.readouterr().err == "something else\n"
