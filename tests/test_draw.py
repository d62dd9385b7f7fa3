"""add_own_digits.py draw: the page's endpoints through Flask's test client, with a small real model."""

import base64
import io
import json

import numpy as np
from PIL import Image, ImageDraw
import pytest

from digits import draw_app
from digits.config import RunConfig
from digits.own_digits import read_digit_folders, to_mnist_format

PORT = 8765
HOST = f"127.0.0.1:{PORT}"


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from digits.model import build_cnn

    path = tmp_path_factory.mktemp("model") / "model.keras"
    build_cnn(RunConfig(filters=(4, 4))).save(path)  # untrained: the endpoints, not the reading, are tested
    return path


@pytest.fixture
def client(model_file, tmp_path):
    app = draw_app.create_app(draw_app.Reader(model_file), tmp_path / "data", PORT)
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
    huge = "data:image/png;base64," + "A" * (draw_app.MAX_REQUEST_BYTES + 10)
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


def test_posts_must_be_json(client, tmp_path):
    answer = client.post("/save", data={"label": "1", "split": "train"}, headers={"Host": HOST})
    assert answer.status_code == 400 and "JSON" in answer.get_json()["error"]
    assert written(tmp_path) == []


def test_an_existing_file_is_never_overwritten(client, tmp_path, monkeypatch):
    class FixedUUID:
        hex = "0" * 32

    monkeypatch.setattr(draw_app.uuid, "uuid4", lambda: FixedUUID())
    monkeypatch.setattr(draw_app, "datetime", type("Frozen", (), {"now": staticmethod(lambda: FrozenNow())}))
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
        return "20260101-000000" if "%Y" in pattern else "00:00:00"


def test_reload_loads_the_model_file_again(client):
    answer = post(client, "/reload", {})
    assert answer.status_code == 200 and answer.get_json()["model"].endswith("model.keras")


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


def test_draw_with_no_model_is_one_line_and_exit_code_2(tmp_path):
    result = run_draw("--model", "nowhere", "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["add_own_digits.py: error: nowhere: no such file or folder"]
