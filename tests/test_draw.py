"""add_own_digits.py draw: the page's endpoints through Flask's test client, with a small real model."""

import base64
import functools
import io
import json
from pathlib import Path
import random
import socket
import urllib.request
import zlib

import numpy as np
from PIL import Image, ImageDraw
import pytest

from digits import draw_page
from digits.config import RunConfig
from digits.errors import InputError
from digits.own_digits import read_digit_folders, to_mnist_format
from harness import browser

PORT = 8765
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOST = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A models/ folder: two runs with a model, one whose model.keras is damaged, one with no model."""
    from digits.model import build_cnn

    folder = tmp_path_factory.mktemp("models")
    for name, filters in (("cnn", (4, 4)), ("own-digits", (4, 8))):
        (folder / name).mkdir()
        build_cnn(RunConfig(filters=filters)).save(folder / name / "model.keras")  # untrained: the endpoints are tested
    (folder / "broken").mkdir()
    (folder / "broken" / "model.keras").write_text("not a model")
    (folder / "notes").mkdir()
    (folder / "notes" / "notes.txt").write_text("no model here")
    return folder


@pytest.fixture(scope="module")
def model_file(runs):
    return runs / "cnn" / "model.keras"


@pytest.fixture
def client(model_file, tmp_path):
    app = draw_page.create_app(draw_page.Reader(model_file), tmp_path / "data", PORT)
    return app.test_client()


def drawing(kind="one", size=(280, 280), image_format="PNG"):
    image = Image.new("RGB", size, "white")
    pen = ImageDraw.Draw(image)
    if kind == "one":
        pen.line([(140, 40), (150, 240)], fill="black", width=18)
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    mime = "png" if image_format == "PNG" else image_format.lower()
    return f"data:image/{mime};base64," + base64.b64encode(buffer.getvalue()).decode(), image


def post(client, path, body, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={"Host": HOST, **headers})


def written(tmp_path):
    return sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())


def test_the_page_and_its_files_are_served(client):
    page = client.get("/", headers={"Host": HOST})
    assert page.status_code == 200 and b'<canvas id="pad"' in page.data
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    for name in ("draw.js", "draw.css"):
        assert client.get(f"/static/{name}", headers={"Host": HOST}).status_code == 200
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["model"].endswith("model.keras") and state["counts"] == {"train": [0] * 10, "validation": [0] * 10}


def test_a_prediction_is_ten_probabilities_of_the_mnist_style_image(client):
    image_url, image = drawing()
    answer = post(client, "/predict", {"image": image_url})
    assert answer.status_code == 200, answer.get_json()
    reading = answer.get_json()
    assert len(reading["probabilities"]) == 10 and sum(reading["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert reading["digit"] == int(np.argmax(reading["probabilities"]))
    np.testing.assert_array_equal(np.array(reading["pixels"]), to_mnist_format(image))  # the one shared conversion


def test_a_heat_map_explains_the_digit_read_on_the_image_the_network_received(client, model_file):
    from digits.data import to_inputs
    from digits.model import load_trained_model
    from digits.saliency import heat_map

    image_url, image = drawing()
    answer = post(client, "/heat-map", {"image": image_url})
    assert answer.status_code == 200, answer.get_json()
    evidence = answer.get_json()
    reading = post(client, "/predict", {"image": image_url}).get_json()
    ranked = np.argsort(-np.array(reading["probabilities"]), kind="stable")
    assert (evidence["digit"], evidence["read"], evidence["runner_up"]) == (reading["digit"], ranked[0], ranked[1])
    assert evidence["probability"] == reading["probabilities"][reading["digit"]]
    assert evidence["pixels"] == reading["pixels"]  # the digit the map is drawn over
    heat = np.array(evidence["heat_map"])
    assert heat.shape == (28, 28) and np.abs(heat).max() == 1  # scaled for display, signed
    expected = heat_map(load_trained_model(model_file), to_inputs(to_mnist_format(image)[None]), [reading["digit"]])[0]
    np.testing.assert_allclose(heat, expected, atol=2e-3)  # the server rounds to 3 decimals


def test_a_heat_map_explains_the_digit_asked_for_such_as_the_runner_up(client):
    image_url, _ = drawing()
    read = post(client, "/heat-map", {"image": image_url}).get_json()
    for asked in (read["runner_up"], str(read["runner_up"]), 9 - read["read"]):
        answer = post(client, "/heat-map", {"image": image_url, "digit": asked})
        assert answer.status_code == 200, answer.get_json()
        evidence = answer.get_json()
        assert evidence["digit"] == int(asked) and evidence["read"] == read["read"]
        assert np.array(evidence["heat_map"]).shape == (28, 28)
        assert evidence["heat_map"] != read["heat_map"]  # another class's evidence


@pytest.mark.parametrize("body, message", [
    ({"digit": 10}, '"digit" must be one digit 0-9'),
    ({"digit": -1}, '"digit" must be one digit 0-9'),
    ({"digit": "12"}, '"digit" must be one digit 0-9'),
    ({"digit": True}, '"digit" must be one digit 0-9'),
    ({"digit": None}, '"digit" must be one digit 0-9'),
    ({"digit": 3.0}, '"digit" must be one digit 0-9'),
    ({"digit": [3]}, '"digit" must be one digit 0-9'),
    ({"image": None}, "PNG data URL"),
    ({"image": "data:image/jpeg;base64,AAAA"}, "PNG data URL"),
    ({"image": drawing(kind="blank")[0]}, "nothing to read"),
])
def test_a_malformed_heat_map_request_is_a_400_naming_what_is_wrong(client, tmp_path, body, message):
    body.setdefault("image", drawing()[0])
    answer = post(client, "/heat-map", body)
    assert answer.status_code == 400 and message in answer.get_json()["error"], answer.get_json()
    assert written(tmp_path) == []


def test_the_state_says_heat_maps_can_be_drawn(client):
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["heat_maps"] is True and state["heat_maps_refused"] is None


# A whole number ----------------------------------------------------------------------------------

NUMBER_PAD = (840, 280)  # the page's wide pad (draw.js's PADS.number)
# Where number() draws each piece: boxes (left, top, right, bottom) about its strokes, 18 px wide.
ONE, SEVEN, ZERO, COMMA = (90, 50, 130, 230), (270, 50, 380, 230), (480, 50, 580, 230), (660, 200, 690, 245)


def number(lines=1):
    """A PNG data URL of the wide pad with a 1, a 7 and a 0 written apart and a comma after them (`lines` times,
    one line under another when 2), and the image."""
    image = Image.new("RGB", (NUMBER_PAD[0], NUMBER_PAD[1] * lines), "white")
    pen = ImageDraw.Draw(image)
    for line in range(lines):
        down = NUMBER_PAD[1] * line
        pen.line([(110, 60 + down), (110, 220 + down)], fill="black", width=18)
        pen.line([(280, 60 + down), (370, 60 + down), (315, 220 + down)], fill="black", width=18, joint="curve")
        pen.ellipse([(490, 60 + down), (570, 220 + down)], outline="black", width=18)
        pen.line([(680, 210 + down), (670, 235 + down)], fill="black", width=16)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), image


def inside(box, bounds):
    return bounds[0] <= box[0] <= box[2] <= bounds[2] and bounds[1] <= box[1] <= box[3] <= bounds[3]


def test_a_number_is_read_digit_by_digit_with_each_digits_box_view_and_probabilities(client):
    from digits.numbers import read_number

    image_url, image = number()
    answer = post(client, "/read-number", {"image": image_url})
    assert answer.status_code == 200, answer.get_json()
    read = answer.get_json()
    assert len(read["digits"]) == 3  # pieces this far apart are one digit each, whatever an untrained model reads
    for found, drawn in zip(read["digits"], (ONE, SEVEN, ZERO), strict=True):
        assert inside(found["box"], drawn), (found["box"], drawn)
        assert np.array(found["pixels"]).shape == (28, 28) and np.array(found["pixels"]).max() > 200
        assert len(found["probabilities"]) == 10 and sum(found["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert found["digit"] == int(np.argmax(found["probabilities"]))
        assert found["probability"] == found["probabilities"][found["digit"]]
    assert read["number"] == "".join(str(found["digit"]) for found in read["digits"])
    (comma,) = read["left_out"]
    assert inside(comma, COMMA)

    reader = client.application.extensions["draw"].reader
    expected = read_number(image, reader.batch_probabilities)  # digits.numbers, with the page's probabilities
    assert read["number"] == expected.text
    assert [found["box"] for found in read["digits"]] == [list(digit.box) for digit in expected.digits]
    assert [found["pixels"] for found in read["digits"]] == [digit.pixels.tolist() for digit in expected.digits]


@pytest.mark.parametrize("body, message", [
    ({}, "PNG data URL"),
    ({"image": 3}, "PNG data URL"),
    ({"image": "data:image/jpeg;base64,AAAA"}, "PNG data URL"),
    ({"image": "data:image/png;base64,!!"}, "base64"),
    ({"image": "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode()}, "not a PNG"),
    ({"image": drawing(size=(1100, 300))[0]}, "at most 1024x1024"),
    ({"image": drawing(kind="blank", size=NUMBER_PAD)[0]}, "no number read: no ink found"),
    ({"image": number(lines=2)[0]}, "no number read: 2 lines of writing found"),
    ([], "must be a JSON object"),
])
def test_a_malformed_number_request_is_a_400_naming_what_is_wrong(client, body, message):
    answer = post(client, "/read-number", body)
    assert answer.status_code == 400 and message in answer.get_json()["error"], answer.get_json()
    assert "\n" not in answer.get_json()["error"]


@pytest.mark.parametrize("headers, status", [
    ({"Host": "evil.example:8765"}, 403), ({"Origin": "http://evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403), ({"Content-Type": "text/plain"}, 400),
])
def test_the_page_s_rules_guard_the_number_reading_too(client, headers, status):
    answer = client.post("/read-number", data=json.dumps({"image": number()[0]}),
                         headers={"Host": HOST, "Content-Type": "application/json", **headers})
    assert answer.status_code == status and answer.get_json()["error"]
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_save_writes_one_png_that_add_own_digits_reads_back_and_undo_takes_it_back(client, tmp_path):
    image_url, _ = drawing()
    answer = post(client, "/save", {"image": image_url, "label": "1", "split": "train"})
    assert answer.status_code == 200, answer.get_json()
    saved = answer.get_json()
    files = written(tmp_path)
    assert len(files) == 1 and files[0].parts[:3] == ("data", "train", "1") and files[0].suffix == ".png"
    assert saved["counts"]["train"][1] == 1 and saved["file"] == str(files[0].relative_to("data"))
    folder = read_digit_folders(tmp_path / "data" / "train")
    assert folder.labels.tolist() == [1] and not folder.skipped

    validation = post(client, "/save", {"image": image_url, "label": 7, "split": "validation"})
    assert validation.status_code == 200 and validation.get_json()["counts"]["validation"][7] == 1
    undone = post(client, "/undo-save", {})
    assert undone.status_code == 200 and undone.get_json()["counts"]["validation"][7] == 0
    assert written(tmp_path) == files
    assert post(client, "/undo-save", {}).status_code == 200
    assert written(tmp_path) == []
    assert post(client, "/undo-save", {}).status_code == 400  # only what this page saved, once


@pytest.mark.parametrize("body, status, message", [
    ({"label": "12", "split": "train"}, 400, "label"),
    ({"label": "../1", "split": "train"}, 400, "label"),
    ({"label": "1/../../x", "split": "train"}, 400, "label"),
    ({"label": 10, "split": "train"}, 400, "label"),
    ({"label": True, "split": "train"}, 400, "label"),
    ({"split": "train"}, 400, "label"),
    ({"label": "3", "split": "../../outside"}, 400, "split"),
    ({"label": "3", "split": "test"}, 400, "split"),
    ({"label": "3", "split": "train", "image": "data:image/jpeg;base64,AAAA"}, 400, "PNG data URL"),
    ({"label": "3", "split": "train", "image": "data:image/png;base64,!!notbase64"}, 400, "base64"),
    ({"label": "3", "split": "train", "image": "data:image/png;base64," + base64.b64encode(b"GIF89a....").decode()}, 400, "not a PNG"),
])
def test_bad_saves_are_refused_and_write_nothing(client, tmp_path, body, status, message):
    body.setdefault("image", drawing()[0])
    answer = post(client, "/save", body)
    assert answer.status_code == status and message in answer.get_json()["error"]
    assert written(tmp_path) == []


def test_a_png_too_large_or_blank_is_refused(client, tmp_path):
    wide, _ = drawing(size=(1100, 300))
    assert "at most 1024x1024" in post(client, "/predict", {"image": wide}).get_json()["error"]
    blank, _ = drawing(kind="blank")
    answer = post(client, "/save", {"image": blank, "label": "0", "split": "train"})
    assert answer.status_code == 400 and "nothing to read" in answer.get_json()["error"]
    assert written(tmp_path) == []


def test_an_oversized_body_gets_413(client, tmp_path):
    huge = "data:image/png;base64," + "A" * (draw_page.MAX_REQUEST_BYTES + 10)
    answer = post(client, "/save", {"image": huge, "label": "1", "split": "train"})
    assert answer.status_code == 413
    assert written(tmp_path) == []


@pytest.mark.parametrize("headers, message", [
    ({"Host": "evil.example:8765"}, "Host"),
    ({"Host": "127.0.0.1:9999"}, "Host"),  # loopback, but not this server's port
    ({"Origin": "http://evil.example"}, "Origin"),
    ({"Origin": "http://localhost:8765"}, "Origin"),  # another origin than the Host the request names
    ({"Sec-Fetch-Site": "cross-site"}, "only this page"),
])
def test_foreign_hosts_and_origins_get_403_and_write_nothing(client, tmp_path, headers, message):
    answer = post(client, "/save", {"image": drawing()[0], "label": "1", "split": "train"}, **headers)
    assert answer.status_code == 403 and message in answer.get_json()["error"]
    assert written(tmp_path) == []


def test_loopback_names_with_the_port_are_answered(client):
    for host in ("localhost:8765", "[::1]:8765", "127.0.0.1:8765"):
        assert client.get("/state", headers={"Host": host}).status_code == 200
    assert post(client, "/predict", {"image": drawing()[0]}, Origin=f"http://{HOST}").status_code == 200


def test_on_port_80_the_loopback_names_are_answered_with_the_port_or_without(model_file, tmp_path):
    client = draw_page.create_app(StubReader(model_file), tmp_path / "data", 80).test_client()
    for host in ("localhost:80", "[::1]:80", "127.0.0.1", "localhost"):  # Werkzeug drops :80 from the host
        assert client.get("/state", headers={"Host": host}).status_code == 200
    assert client.get("/state", headers={"Host": "evil.example"}).status_code == 403


def test_posts_must_be_json(client, tmp_path):
    answer = client.post("/save", data={"label": "1", "split": "train"}, headers={"Host": HOST})
    assert answer.status_code == 400 and "JSON" in answer.get_json()["error"]
    assert written(tmp_path) == []


def test_an_existing_file_is_never_overwritten(client, tmp_path, monkeypatch):
    class FixedUUID:
        hex = "0" * 32

    monkeypatch.setattr(draw_page.uuid, "uuid4", lambda: FixedUUID())
    monkeypatch.setattr(draw_page, "datetime", type("Frozen", (), {"now": staticmethod(lambda: FrozenNow())}))
    first = post(client, "/save", {"image": drawing()[0], "label": "4", "split": "train"})
    assert first.status_code == 200
    (path,) = (tmp_path / "data" / "train" / "4").iterdir()
    before = path.read_bytes()
    other = drawing(size=(200, 200))[0]  # another drawing, given the same name
    second = post(client, "/save", {"image": other, "label": "4", "split": "train"})
    assert second.status_code == 409 and "nothing was overwritten" in second.get_json()["error"]
    assert path.read_bytes() == before and len(list(path.parent.iterdir())) == 1


class FrozenNow:
    def strftime(self, pattern):
        return "00000000-000000" if "%Y" in pattern else "00:00:00"  # a clock stopped: every save names the same second


def test_reload_loads_the_model_file_again(client):
    answer = post(client, "/reload", {})
    assert answer.status_code == 200 and answer.get_json()["model"].endswith("model.keras")


def test_the_state_lists_the_runs_that_hold_a_model_and_the_current_one(client, runs):
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["runs"] == ["broken", "cnn", "own-digits"] and state["run"] == "cnn"  # not notes/: no model
    assert state["runs_dir"] == str(runs.resolve())


def test_reload_switches_to_another_run_and_then_reloads_that_one(client, runs, tmp_path):
    answer = post(client, "/reload", {"model": "own-digits"})
    assert answer.status_code == 200, answer.get_json()
    switched = answer.get_json()
    assert switched["model"] == str(runs / "own-digits" / "model.keras") and switched["run"] == "own-digits"
    assert client.get("/state", headers={"Host": HOST}).get_json()["model"] == switched["model"]
    assert post(client, "/predict", {"image": drawing()[0]}).status_code == 200
    again = post(client, "/reload", {}).get_json()  # no "model": the current run's file, again
    assert again["model"] == switched["model"] and again["run"] == "own-digits"
    assert written(tmp_path) == []


@pytest.mark.parametrize("name", [
    "../cnn", "cnn/model.keras", "cnn/", "./cnn", "/etc", "nowhere", "notes", ".", "..", "", "CNN",
    None, 1, True, ["cnn"], {"run": "cnn"},
])
def test_reload_refuses_anything_but_the_name_of_a_listed_run(client, runs, model_file, name):
    answer = post(client, "/reload", {"model": name})
    assert answer.status_code == 400 and '"model" must name a run folder' in answer.get_json()["error"]
    assert client.get("/state", headers={"Host": HOST}).get_json()["model"] == str(model_file)


def test_reload_refuses_a_path_even_to_a_run(client, runs, model_file):
    answer = post(client, "/reload", {"model": str(runs / "own-digits")})
    assert answer.status_code == 400 and "own-digits" in answer.get_json()["error"]  # the names it takes
    assert client.get("/state", headers={"Host": HOST}).get_json()["model"] == str(model_file)


def test_a_run_that_cannot_be_loaded_leaves_the_model_read_with(client, model_file):
    answer = post(client, "/reload", {"model": "broken"})
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert "broken" in error and "not a Keras model" in error and "\n" not in error
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["model"] == str(model_file) and state["run"] == "cnn"
    assert post(client, "/predict", {"image": drawing()[0]}).status_code == 200


def test_runs_dir_can_be_given_and_a_model_outside_it_is_no_run(model_file, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    app = draw_page.create_app(StubReader(model_file), tmp_path / "data", PORT, runs_dir=elsewhere)
    state = app.test_client().get("/state", headers={"Host": HOST}).get_json()
    assert state["runs"] == [] and state["run"] is None and state["runs_dir"] == str(elsewhere)


def test_a_port_in_use_is_one_input_error_naming_it(client):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(InputError) as refused:
            draw_page.serve(client.application, "127.0.0.1", port, on_ready=pytest.fail)
    assert str(refused.value).startswith(f"cannot listen on 127.0.0.1:{port}: the port is in use")
    assert "\n" not in str(refused.value)


def test_the_server_listens_on_a_free_port_and_answers_its_own_host(client):
    with browser.ServerThread(client.application) as server:
        with urllib.request.urlopen(server.url + "state", timeout=10) as answer:
            assert answer.status == 200 and json.load(answer)["run"] == "cnn"
    assert client.application.extensions["draw"].port == int(server.url.rsplit(":", 1)[1].strip("/"))


def run_draw(*args, cwd, python_flags=()):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "add_own_digits.py"
    return subprocess.run([sys.executable, *python_flags, str(script), "draw", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_draw_help_answers_without_tensorflow(tmp_path):
    result = run_draw("--help", cwd=tmp_path, python_flags=("-X", "importtime"))
    assert result.returncode == 0 and "--data-dir" in result.stdout and "--open" in result.stdout
    assert "tensorflow" not in result.stderr and "keras" not in result.stderr  # -X importtime lists every import


@pytest.mark.slow
def test_draw_with_no_model_is_one_line_and_exit_code_2(tmp_path):
    result = run_draw("--model", "nowhere", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["add_own_digits.py: error: nowhere: no such file or folder"]


# Calibrated probabilities, and several models -------------------------------------------------------

@pytest.mark.slow
def test_the_page_reads_with_the_runs_temperature(tiny_runs, tmp_path):
    from digits.calibration import calibrated
    from digits.run_folder import temperature_of
    from digits.data import to_inputs
    from digits.model import load_trained_model, predict_probabilities

    run = tiny_runs["calibrated"]
    client = draw_page.create_app(draw_page.Reader(run), tmp_path / "data", PORT).test_client()
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["models"] == [{"file": str(run / "model.keras"), "temperature": temperature_of(run)}]
    assert state["run"] == "calibrated" and state["runs"] == ["calibrated", "plain"]  # one model: it can switch
    image_url, image = drawing()
    reading = post(client, "/predict", {"image": image_url}).get_json()
    raw = predict_probabilities(load_trained_model(run / "model.keras"), to_inputs(to_mnist_format(image)[None]))[0]
    assert reading["probabilities"] == pytest.approx(calibrated(raw, temperature_of(run)), abs=2e-6)
    assert reading["probabilities"] != pytest.approx(raw, abs=1e-3)


@pytest.fixture
def ensemble_client(tiny_runs, tmp_path):
    reader = draw_page.Reader([tiny_runs["plain"], tiny_runs["calibrated"]])
    return draw_page.create_app(reader, tmp_path / "data", PORT).test_client()


@pytest.mark.slow
def test_with_several_models_the_page_reads_with_their_ensemble(ensemble_client, tiny_runs):
    from digits.run_folder import temperature_of
    from digits.data import to_inputs
    from digits.ensemble import Ensemble

    plain, calibrated_run = tiny_runs["plain"] / "model.keras", tiny_runs["calibrated"] / "model.keras"
    state = ensemble_client.get("/state", headers={"Host": HOST}).get_json()
    assert state["model"] == f"{plain} + {calibrated_run}"
    assert state["models"] == [{"file": str(plain), "temperature": None},
                               {"file": str(calibrated_run), "temperature": temperature_of(calibrated_run)}]
    assert state["run"] is None and state["runs"] == []  # nothing to switch to: the page hides its run list
    image_url, image = drawing()
    reading = post(ensemble_client, "/predict", {"image": image_url}).get_json()
    ensemble, inputs = Ensemble([plain, calibrated_run]), to_inputs(to_mnist_format(image)[None])
    assert reading["probabilities"] == pytest.approx(ensemble.probabilities(inputs)[1][0], abs=2e-6)
    scores, looks_like_a_digit = ensemble.digit_verdicts(inputs)  # the majority of the two runs' detectors
    assert reading["digit_score"] == pytest.approx(scores[0], abs=1e-4)
    assert reading["looks_like_a_digit"] is bool(looks_like_a_digit[0])


@pytest.mark.slow
def test_with_several_models_the_heat_map_is_of_their_mean_logit(ensemble_client, tiny_runs):
    from digits.data import to_inputs
    from digits.model import load_trained_model
    from digits.saliency import heat_map

    image_url, image = drawing()
    evidence = post(ensemble_client, "/heat-map", {"image": image_url, "digit": 4}).get_json()
    models = [load_trained_model(tiny_runs[name] / "model.keras") for name in ("plain", "calibrated")]
    expected = heat_map(models, to_inputs(to_mnist_format(image)[None]), [4])[0]
    np.testing.assert_allclose(np.array(evidence["heat_map"]), expected, atol=2e-3)


@pytest.mark.slow
def test_with_several_models_a_switch_is_refused_and_reload_loads_them_all(ensemble_client, tmp_path):
    before = ensemble_client.get("/state", headers={"Host": HOST}).get_json()
    for name in ("plain", "calibrated", "nowhere", None):
        answer = post(ensemble_client, "/reload", {"model": name})
        assert answer.status_code == 400, answer.get_json()
        assert answer.get_json()["error"].startswith("the page reads with 2 models averaged; switching to another run")
    assert ensemble_client.get("/state", headers={"Host": HOST}).get_json()["models"] == before["models"]
    again = post(ensemble_client, "/reload", {})
    assert again.status_code == 200 and again.get_json()["models"] == before["models"]
    assert written(tmp_path) == []


@pytest.mark.parametrize("argv, models", [
    ([], ["models/cnn"]), (["--model", "a"], ["a"]), (["--model", "a", "--model", "b"], ["a", "b"])])
def test_draw_reads_with_every_model_given_and_models_cnn_by_default(monkeypatch, argv, models):
    import add_own_digits

    given = []

    def reader(paths, runtime):
        assert runtime == "auto"
        given.append(paths)
        raise InputError("stop before serving")

    monkeypatch.setattr(draw_page, "Reader", reader)
    with pytest.raises(InputError, match="stop before serving"):
        add_own_digits.main(["draw", *argv])
    assert given == [models]


# Heat maps when reading through an export --------------------------------------------------------

def test_a_run_read_through_its_export_takes_its_heat_maps_from_the_runs_keras_model(runs):
    from types import SimpleNamespace

    from digits.ensemble import Member

    run = runs / "cnn"
    through_export = SimpleNamespace(members=[Member(run / "export" / "model.onnx", object(), None, exported=True)])
    assert draw_page.heat_maps_refusal([run], through_export) is None
    (model,) = draw_page.keras_models([run], through_export)
    assert model.count_params() > 0  # the run's model.keras, loaded
    refusal = draw_page.heat_maps_refusal([run / "export" / "model.onnx"], through_export)
    assert refusal.startswith(f"no heat maps: {run / 'export' / 'model.onnx'} is an export, which has no gradients")


@pytest.fixture(scope="module")
def exported_run(tiny_runs, tmp_path_factory):
    """A copy of the tiny calibrated run (conftest) with its ONNX export, made by export_model.py."""
    import shutil
    import subprocess
    import sys

    run = tmp_path_factory.mktemp("exported") / "calibrated"
    shutil.copytree(tiny_runs["calibrated"], run)
    script = Path(__file__).resolve().parent.parent / "export_model.py"
    result = subprocess.run([sys.executable, str(script), str(run), "--format", "onnx"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.slow
def test_heat_maps_with_an_export_come_from_its_run_or_are_refused_for_an_export_file(exported_run, tmp_path):
    from digits.data import to_inputs
    from digits.model import load_trained_model
    from digits.saliency import heat_map

    image_url, image = drawing()
    through_export = draw_page.create_app(draw_page.Reader(exported_run, "auto"), tmp_path / "data", PORT).test_client()
    state = through_export.get("/state", headers={"Host": HOST}).get_json()
    assert state["model"].endswith("model.onnx") and state["heat_maps"] is True
    evidence = post(through_export, "/heat-map", {"image": image_url, "digit": 2}).get_json()
    expected = heat_map(load_trained_model(exported_run / "model.keras"), to_inputs(to_mnist_format(image)[None]), [2])[0]
    np.testing.assert_allclose(np.array(evidence["heat_map"]), expected, atol=2e-3)

    export_file = exported_run / "export" / "model.onnx"
    only_export = draw_page.create_app(draw_page.Reader(export_file, "auto"), tmp_path / "data", PORT).test_client()
    state = only_export.get("/state", headers={"Host": HOST}).get_json()
    assert state["heat_maps"] is False and "is an export" in state["heat_maps_refused"]
    refused = post(only_export, "/heat-map", {"image": image_url})
    assert refused.status_code == 400 and refused.get_json()["error"] == state["heat_maps_refused"]
    reading = post(only_export, "/predict", {"image": image_url})
    assert reading.status_code == 200  # reading still works, with no not-a-digit verdict: an export has no features
    assert reading.get_json()["looks_like_a_digit"] is None and reading.get_json()["digit_score"] is None
    assert state["digit_verdicts"] is False
    assert state["digit_verdicts_refused"].startswith(
        f"no not-a-digit verdict: {export_file}: an export gives probabilities only")


# Whether a drawing looks like a digit at all ---------------------------------------------------------

def scribble():
    """A zigzag over the whole pad: nothing like a digit."""
    image = Image.new("RGB", (280, 280), "white")
    zigzag = [(30, 30), (250, 60), (30, 110), (250, 160), (30, 210), (250, 250)]
    ImageDraw.Draw(image).line(zigzag, fill="black", width=14)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(), image


@pytest.fixture
def verdict_run(tiny_runs, tmp_path):
    """A copy of the tiny calibrated run (conftest), whose detector and model the tests may replace."""
    import shutil

    return Path(shutil.copytree(tiny_runs["calibrated"], tmp_path / "runs" / "calibrated"))


def detector_scores(run, image):
    """The digit scores the run's kept detector gives the image, read with the run's model as the page reads it."""
    from digits import not_a_digit
    from digits.data import to_inputs
    from digits.model import load_trained_model

    detector = not_a_digit.load_detector(run / not_a_digit.DETECTOR_FILE)
    model = load_trained_model(run / "model.keras")
    return detector, detector.scores(not_a_digit.features_of(model, to_inputs(to_mnist_format(image)[None])))[0]


@pytest.mark.slow
def test_a_reading_says_whether_the_drawing_looks_like_a_digit_as_the_runs_kept_detector_does(verdict_run, tmp_path):
    from digits import not_a_digit
    from digits.files import sha256_of

    client = draw_page.create_app(draw_page.Reader(verdict_run), tmp_path / "data", PORT).test_client()
    kept = verdict_run / not_a_digit.DETECTOR_FILE
    assert not_a_digit.load_detector(kept).model_sha256 == sha256_of(verdict_run / "model.keras")  # fitted on loading
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["digit_verdicts"] is True and state["digit_verdicts_refused"] is None
    for image_url, image in (drawing(), scribble()):
        reading = post(client, "/predict", {"image": image_url}).get_json()
        detector, score = detector_scores(verdict_run, image)
        assert reading["digit_score"] == pytest.approx(score, abs=1e-4) and np.isfinite(reading["digit_score"])
        assert reading["looks_like_a_digit"] is bool(score >= detector.threshold)
        assert len(reading["probabilities"]) == 10  # read all the same


@pytest.mark.slow
def test_a_reload_reads_with_the_detector_kept_for_the_model_and_fits_a_changed_models_own(verdict_run, tiny_runs,
                                                                                            tmp_path):
    import shutil

    from digits import not_a_digit
    from digits.files import sha256_of

    client = draw_page.create_app(draw_page.Reader(verdict_run), tmp_path / "data", PORT).test_client()
    kept = verdict_run / not_a_digit.DETECTOR_FILE
    detector = not_a_digit.load_detector(kept)
    image_url, image = drawing()
    for threshold, looks_like_a_digit in ((-np.inf, True), (np.inf, False)):  # below every score, then above all
        detector.threshold = threshold
        not_a_digit.save_detector(detector, kept)
        assert post(client, "/reload", {}).status_code == 200
        assert post(client, "/predict", {"image": image_url}).get_json()["looks_like_a_digit"] is looks_like_a_digit

    shutil.copy(tiny_runs["plain"] / "model.keras", verdict_run / "model.keras")  # say, fine-tuned since
    assert post(client, "/reload", {}).status_code == 200
    refitted, score = detector_scores(verdict_run, image)
    assert refitted.model_sha256 == sha256_of(verdict_run / "model.keras") and np.isfinite(refitted.threshold)
    reading = post(client, "/predict", {"image": image_url}).get_json()
    assert reading["digit_score"] == pytest.approx(score, abs=1e-4)
    assert reading["looks_like_a_digit"] is bool(score >= refitted.threshold)


def test_a_model_with_no_run_json_gets_no_verdict_and_the_state_says_why(client, model_file):
    reading = post(client, "/predict", {"image": drawing()[0]}).get_json()
    assert reading["looks_like_a_digit"] is None and reading["digit_score"] is None
    assert len(reading["probabilities"]) == 10
    state = client.get("/state", headers={"Host": HOST}).get_json()
    assert state["digit_verdicts"] is False
    assert state["digit_verdicts_refused"] == (f"no not-a-digit verdict: {model_file}: no run.json beside it to name "
                                               "the data its detector is fitted on")


def test_malformed_predicts_are_still_400s_where_the_page_gives_verdicts(verdict_run, tmp_path):
    client = draw_page.create_app(draw_page.Reader(verdict_run), tmp_path / "data", PORT).test_client()
    for body, message in (({}, "PNG data URL"), ({"image": 3}, "PNG data URL"),
                          ({"image": "data:image/png;base64,!!"}, "base64"),
                          ({"image": drawing(kind="blank")[0]}, "nothing to read"),
                          ({"image": drawing(size=(1100, 300))[0]}, "at most 1024x1024"),
                          ([], "must be a JSON object")):
        answer = post(client, "/predict", body)
        assert answer.status_code == 400 and message in answer.get_json()["error"], (body, answer.get_json())


# Random and malformed bodies ----------------------------------------------------------------------

class StubReader:
    """Reads every digit as a 3 without a model, so that hundreds of bodies post quickly."""

    heat_maps_refused = None
    digit_verdicts_refused = "no not-a-digit verdict: a stub has no detector"

    def __init__(self, path):
        self.path, self.name, self.loaded = Path(path), str(path), "00:00:00"
        self.models = [{"file": str(path), "temperature": None}]

    def probabilities(self, digit):
        assert digit.shape == (28, 28) and digit.dtype == np.uint8
        return np.eye(10)[3] * 0.9 + 0.01

    def read(self, digit):
        return self.probabilities(digit), None, None

    def heat_map(self, digit, target):
        assert digit.shape == (28, 28) and target in range(10)
        return np.linspace(-1, 1, 28 * 28).reshape(28, 28)

    def read_number(self, image):
        from digits.numbers import read_number

        return read_number(image, lambda inputs: np.tile(np.eye(10)[3] * 0.9 + 0.01, (len(inputs), 1)))

    def reload(self, path=None):
        self.path = Path(path or self.path)


@pytest.fixture
def stub_client(runs, tmp_path):
    return draw_page.create_app(StubReader(runs / "cnn"), tmp_path / "data", PORT).test_client()


def png_chunk(kind, data):
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def raw_png(width, height, depth=8, colour=0, interlace=0, before_data=(), idat=None):
    """A PNG written byte by byte, for what Pillow will not write (16-bit colour, odd headers and chunks):
    white with a black bar down the middle, opaque."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, colour, 0, 0, interlace])
    channels, top = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 1), 2**depth - 1
    alpha = [top] if colour in (4, 6) else []
    pixels = [[0 if width // 3 <= x < 2 * width // 3 else top] * (channels - len(alpha)) + alpha for x in range(width)]
    bits = "".join(format(value, f"0{depth}b") for pixel in pixels for value in pixel)
    bits += "0" * (-len(bits) % 8)  # a row ends on a whole byte
    row = int(bits, 2).to_bytes(len(bits) // 8, "big")
    data = zlib.compress((b"\0" + row) * height) if idat is None else idat
    return (PNG_SIGNATURE + png_chunk(b"IHDR", header) + b"".join(before_data)
            + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b""))


def saved_png(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def with_size(png, width, height):
    """The same PNG declaring another size in its header (checksum made right)."""
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:29]
    return png[:8] + png_chunk(b"IHDR", header) + png[33:]


@functools.cache
def odd_pngs():
    """PNGs the page never sends, that a decoder may read: each is read or refused, never a 500."""
    one = drawing()[1]
    ink = np.asarray(one.convert("L")) < 128
    transparent = Image.new("RGBA", one.size, (0, 0, 0, 0))
    transparent.putalpha(Image.fromarray((ink * 255).astype(np.uint8)))
    palette = one.convert("P")
    return {
        "1x1 white": saved_png(Image.new("L", (1, 1), 255)), "1x1 black": saved_png(Image.new("L", (1, 1), 0)),
        "16-bit grey": saved_png(Image.fromarray((~ink * 65535).astype(np.uint16))),
        "16-bit RGBA": raw_png(12, 12, 16, 6), "16-bit grey, raw": raw_png(12, 12, 16, 0), "2-bit grey": raw_png(9, 9, 2, 0),
        "16-bit grey and alpha": raw_png(12, 12, 16, 4), "16-bit RGB": raw_png(12, 12, 16, 2),
        "palette": saved_png(palette), "palette with transparency": saved_png(palette, transparency=0),
        "LA": saved_png(one.convert("LA")), "ink only opaque": saved_png(transparent),
        "all transparent": saved_png(Image.new("RGBA", (50, 50), (0, 0, 0, 0))), "1-bit": saved_png(one.convert("1")),
        "interlaced 1x1": raw_png(1, 1, interlace=1), "1x3": raw_png(3, 1),
        "1024x1024": saved_png(Image.new("L", (1024, 1024), 255)),
        "1024x1 line": saved_png(Image.new("L", (1024, 1), 0)), "1x1024 line": raw_png(1, 1024),
        "garbage eXIf": raw_png(12, 12, before_data=[png_chunk(b"eXIf", b"MM\0*garbage")]),
        "zTXt bomb": raw_png(12, 12, before_data=[png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"\0" * 20_000_000, 9))]),
        "garbage iCCP": raw_png(12, 12, before_data=[png_chunk(b"iCCP", b"p\0\0" + zlib.compress(b"junk"))]),
        "unknown chunks": raw_png(12, 12, before_data=[png_chunk(b"abCd", b"x"), png_chunk(b"ABCD", b"y")]),
        "no IEND": saved_png(one)[:-12], "palette without PLTE": raw_png(8, 8, 8, 3),
    }


@functools.cache
def broken_pngs():
    """PNGs no page sends and no decoder can read as one still picture: each must be refused."""
    good = saved_png(drawing()[1])
    animated = io.BytesIO()
    Image.new("L", (20, 20), 255).save(animated, "PNG", save_all=True,
                                       append_images=[Image.new("L", (20, 20), 0)], duration=100)
    bad_header_checksum = good[:29] + bytes(4) + good[33:]
    return {
        "signature only": PNG_SIGNATURE, "signature and junk": PNG_SIGNATURE + b"junk" * 20,
        "truncated": good[: len(good) // 2], "bad header checksum": bad_header_checksum,
        "zero width": with_size(good, 0, 280), "zero height": with_size(good, 280, 0),
        "1025 wide": with_size(good, 1025, 10), "decompression bomb": with_size(good, 30000, 30000),
        "4 billion a side": with_size(good, 2**32 - 1, 2**32 - 1), "larger than its data": with_size(good, 900, 900),
        "animated": animated.getvalue(), "bit depth 3": raw_png(8, 8, 3, 0), "colour type 7": raw_png(8, 8, 8, 7),
        "data not zlib": raw_png(8, 8, idat=b"not zlib at all"), "no image data": good[:33] + png_chunk(b"IEND", b""),
    }


def data_url(png):
    return draw_page.PNG_DATA_URL + base64.b64encode(png).decode()


def misencoded_images():
    """Image fields that are not a PNG data URL in good base64: each must be refused."""
    encoded = data_url(saved_png(drawing()[1]))
    return [encoded.rstrip("=") + "===", encoded + "=", encoded[:-3], encoded[:-1], encoded + "A",
            encoded[:60] + "\n" + encoded[60:], encoded.replace("+", "-").replace("/", "_") + "-_",
            encoded.upper(), "data:image/png;base64,", "DATA:IMAGE/PNG;BASE64," + encoded[22:],
            encoded[:40] + "é" + encoded[40:], "data:image/png;base64," + "A" * 400_000,
            "data:image/png;base64," + "=" * 1000, encoded[22:], "data:image/png;base64," + data_url(b"x")]


def random_json(rng, depth=0):
    """A random JSON value: numbers, strings (odd ones included), true/false/null, lists, objects."""
    kinds = ["int", "big", "float", "string", "constant"] + ["list", "object"] * (depth < 3)
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.randint(-10, 10)
    if kind == "big":
        return rng.choice([10**rng.randint(10, 400), -(2**63), 2**64])
    if kind == "float":
        return rng.choice([rng.uniform(-1e6, 1e6), 1e308, -0.0, 5e-324, 3.0])
    if kind == "string":
        return rng.choice(["", "0", "3", "12", "train", "validation", "../x", "/etc/passwd", "\0", "\ud800",
                           "é" * rng.randint(1, 50), "x" * rng.randint(100, 20_000), "data:image/png;base64,"])
    if kind == "constant":
        return rng.choice([True, False, None])
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["image", "label", "split", "model", "digit", "x", ""]): random_json(rng, depth + 1)
            for _ in range(rng.randint(0, 4))}


def fuzzed_bodies(rng, endpoint, images, count):
    """`count` bodies for the endpoint: raw bytes that are not JSON, JSON that is not an object, and objects
    with each field of a wrong type or value. Every /save body has something wrong (nothing may be written):
    an image that cannot be read, or a label or split out of place beside one that might be."""
    raw = [b"", b"{", b'{"image": ', b"\xff\xfe\x00", b"[" * 100_000, b'{"a":' * 50_000, b"NaN", b"1" * 5000,
           b'{"label": 1e999, "split": Infinity}', b'"\\ud800"', b"{}" * 2, b"\x00"]
    bodies = [rng.choice(raw) if rng.random() < 0.15 else None for _ in range(count)]
    for i, body in enumerate(bodies):
        if body is None and rng.random() < 0.3:
            bodies[i] = json.dumps(random_json(rng, depth=3 * (rng.random() < 0.5))).encode()
        elif body is None:
            bodies[i] = json.dumps(fuzzed_object(rng, endpoint, images)).encode()
    return bodies


def fuzzed_object(rng, endpoint, images):
    readable, unreadable, misencoded = images
    body = {key: random_json(rng, 1) for key in rng.sample(["label", "split", "model", "other"], 2)}
    body["image"] = rng.choice([*readable, *unreadable, *misencoded, random_json(rng, 1)])
    body["label"] = rng.choice([rng.randint(0, 9), str(rng.randint(0, 9)), random_json(rng, 1)])
    body["split"] = rng.choice(["train", "validation", random_json(rng, 1)])
    for key in rng.sample(sorted(body), rng.randint(0, 2)):
        del body[key]
    if endpoint == "/save" and rng.random() < 0.4:  # a good label and split, to reach the image decoder
        body.update(image=rng.choice(unreadable + misencoded), label=rng.randint(0, 9), split="train")
    elif endpoint == "/save" and body.get("image") in readable:  # something else wrong: nothing may be written
        body[rng.choice(["label", "split"])] = rng.choice(["10", "../train", "test", -1, 1.0, [], None])
    if endpoint == "/heat-map" and rng.random() < 0.6:
        body["digit"] = rng.choice([rng.randint(0, 9), str(rng.randint(0, 9)), "10", -1, 2.5, True, random_json(rng, 1)])
    if endpoint == "/reload" and rng.random() < 0.7:
        body["model"] = rng.choice(["cnn", "own-digits", "../cnn", "/tmp", "cnn/../own-digits", random_json(rng, 1)])
    return body


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow on the garbage eXIf chunk
@pytest.mark.parametrize("endpoint", ["/predict", "/heat-map", "/read-number", "/save", "/undo-save", "/reload"])
def test_random_and_malformed_bodies_get_json_4xx_and_write_nothing(stub_client, tmp_path, endpoint):
    images = ([data_url(png) for png in odd_pngs().values()], [data_url(png) for png in broken_pngs().values()],
              misencoded_images())
    rng = random.Random(f"fuzz {endpoint}")
    for body in fuzzed_bodies(rng, endpoint, images, count=90):
        answer = stub_client.post(endpoint, data=body, content_type="application/json", headers={"Host": HOST})
        shown = body[:200]
        assert answer.status_code < 500 and answer.is_json, (answer.status_code, shown, answer.data[:300])
        if answer.status_code >= 400:
            assert isinstance(answer.get_json().get("error"), str) and answer.get_json()["error"], shown
        assert not (endpoint == "/save" and answer.status_code == 200), shown
        assert written(tmp_path) == [], shown


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow on the garbage eXIf chunk
@pytest.mark.parametrize("name", sorted(odd_pngs()))
def test_an_odd_png_is_read_or_refused_never_a_500(stub_client, name):
    answer = post(stub_client, "/predict", {"image": data_url(odd_pngs()[name])})
    assert answer.status_code in (200, 400), answer.data[:300]
    if answer.status_code == 200:
        assert np.array(answer.get_json()["pixels"]).shape == (28, 28)
    answer = post(stub_client, "/read-number", {"image": data_url(odd_pngs()[name])})
    assert answer.status_code in (200, 400), answer.data[:300]
    if answer.status_code == 200:
        assert all(np.array(found["pixels"]).shape == (28, 28) for found in answer.get_json()["digits"])


@pytest.mark.parametrize("name", sorted(broken_pngs()))
def test_a_broken_png_is_refused(stub_client, tmp_path, name):
    for endpoint, body in (("/predict", {}), ("/heat-map", {}), ("/read-number", {}),
                           ("/save", {"label": 1, "split": "train"})):
        answer = post(stub_client, endpoint, {"image": data_url(broken_pngs()[name]), **body})
        assert answer.status_code == 400 and "PNG" in answer.get_json()["error"], answer.get_json()
    assert written(tmp_path) == []


@pytest.mark.parametrize("body", [3, 1.5, "x", [], [{"image": "..."}], None, True, False])
def test_a_body_that_is_not_an_object_is_refused_by_every_endpoint(stub_client, tmp_path, body):
    assert post(stub_client, "/save", {"image": drawing()[0], "label": 1, "split": "train"}).status_code == 200
    before = written(tmp_path)
    for endpoint in ("/predict", "/heat-map", "/read-number", "/save", "/undo-save", "/reload"):
        answer = post(stub_client, endpoint, body)
        assert answer.status_code == 400 and "must be a JSON object" in answer.get_json()["error"]
    assert written(tmp_path) == before  # /undo-save did not undo


@pytest.mark.slow
def test_a_burst_of_64_concurrent_predicts_and_saves_is_all_answered_and_each_save_lands_once(client, tmp_path):
    import threading

    image_url, _ = drawing()
    requests = [("/save", {"image": image_url, "label": index % 10, "split": ("train", "validation")[index % 2]})
                if index % 2 else ("/predict", {"image": image_url}) for index in range(64)]
    answers, start = [None] * len(requests), threading.Barrier(len(requests))

    def send(index, path, body):
        request = urllib.request.Request(server.url.rstrip("/") + path, data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        start.wait()  # every connection at once
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answers[index] = (answer.status, json.load(answer))
        except Exception as error:  # a reset connection or a refusal: recorded, and fails below
            answers[index] = (None, repr(error))

    with browser.ServerThread(client.application) as server:
        threads = [threading.Thread(target=send, args=(index, *request)) for index, request in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert all(status == 200 for status, _ in answers), [answer for answer in answers if answer[0] != 200]
    saved = [body["file"] for (path, _), (_, body) in zip(requests, answers) if path == "/save"]
    assert len(set(saved)) == len(saved) == 32
    assert sorted(str(path.relative_to("data")) for path in written(tmp_path)) == sorted(saved)
