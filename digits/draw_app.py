"""`add_own_digits.py draw`: a local page to draw digits, watch the network read them, and save them.

The page (digits/static/draw.*) posts each drawing as a PNG; the server brings it into
MNIST's format with the very function `add_own_digits.py` uses (digits.own_digits.to_mnist_format),
predicts it, and saves confirmed drawings into <data>/train/<digit>/ or
<data>/validation/<digit>/, where `add_own_digits.py` reads them.

Safe by default: it answers only requests addressed to this machine's loopback names
with its own port (no DNS rebinding), takes POSTs only as same-origin JSON, caps their
size, accepts only PNG images up to 1024x1024, names every file itself, writes nothing
outside the data folder, and never overwrites a file.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
import io
import logging
import os
from pathlib import Path
import re
import tempfile
import threading
import uuid

from flask import Flask, abort, jsonify, request, send_from_directory
import numpy as np
from PIL import Image, UnidentifiedImageError

from digits.data import to_inputs
from digits.errors import InputError, first_line
from digits.own_digits import digit_files, to_mnist_format

STATIC = Path(__file__).resolve().parent / "static"
SPLITS = ("train", "validation")
MAX_REQUEST_BYTES = 512 * 1024  # a 280x280 drawing is a few kB as PNG
MAX_IMAGE_SIDE = 1024
PNG_DATA_URL = "data:image/png;base64,"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Reader:
    """A saved model that reads 28x28 digits; `reload` picks up a model fine-tuned since."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.reload()

    def reload(self):
        from digits.runs import find_model_file

        model_file = find_model_file(self.path)  # a wrong path answers before TensorFlow loads

        from digits.model import load_trained_model

        model = load_trained_model(model_file)
        with self.lock:
            self.model, self.name = model, str(model_file)
            self.loaded = datetime.now().strftime("%H:%M:%S")

    def probabilities(self, digit):
        from digits.model import predict_probabilities

        with self.lock:
            return predict_probabilities(self.model, to_inputs(digit[None]))[0]


@dataclass
class DrawState:
    reader: object  # Reader, or anything with .name, .loaded, .probabilities(digit), .reload()
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    saved: list = field(default_factory=list)  # paths of the drawings this server saved, for undo
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(reader, data_dir, port, host="127.0.0.1"):
    """The Flask app: the page, and its JSON endpoints /state, /predict, /save, /undo-save, /reload."""
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    state = DrawState(reader, Path(data_dir), port, host)
    app.extensions["draw"] = state

    @app.before_request
    def only_this_page():
        if request.host not in allowed_hosts(state):
            abort(403, f"Host {request.host!r} is not this server (DNS rebinding is refused)")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{request.host}":
                abort(403, f"Origin {origin!r} is not this page")
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
                abort(403, "only this page may post")
            if not request.is_json:
                abort(400, "POST bodies must be JSON (Content-Type: application/json)")

    @app.after_request
    def locked_down(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(409)
    @app.errorhandler(413)
    def error_as_json(error):
        message = error.description if error.code != 413 else f"request larger than {MAX_REQUEST_BYTES // 1024} kB"
        return jsonify(error=message), error.code

    @app.get("/")
    def page():
        return send_from_directory(STATIC, "draw.html")

    @app.get("/static/<name>")
    def static_file(name):
        return send_from_directory(STATIC, name)

    @app.get("/state")
    def current_state():
        return jsonify(model=state.reader.name, loaded=state.reader.loaded, counts=counts(state.data_dir),
                       saved=len(state.saved))

    @app.post("/predict")
    def predict():
        digit = mnist_digit(posted_image())
        return jsonify(reading(state.reader, digit))

    @app.post("/save")
    def save():
        body = request.get_json(silent=True) or {}
        label, split = checked_label(body.get("label")), checked_split(body.get("split"))
        image_bytes, image = posted_png(body)
        read = reading(state.reader, mnist_digit(image))
        with state.lock:
            path = write_new_png(state.data_dir, split, label, image_bytes)
            state.saved.append(path)
        return jsonify(file=str(path.relative_to(state.data_dir)), split=split, label=label, read=read["digit"],
                       probability=read["probabilities"][read["digit"]], counts=counts(state.data_dir))

    @app.post("/undo-save")
    def undo_save():
        with state.lock:
            if not state.saved:
                abort(400, "nothing saved on this page to undo")
            last = state.saved.pop()
            last.unlink(missing_ok=True)
        return jsonify(removed=str(last.relative_to(state.data_dir)), counts=counts(state.data_dir))

    @app.post("/reload")
    def reload_model():
        try:
            state.reader.reload()
        except InputError as error:
            abort(400, str(error))
        return jsonify(model=state.reader.name, loaded=state.reader.loaded)

    return app


def serve(app, host, port, on_ready):
    """Serve the app with Werkzeug's threaded server (never Flask's debug mode) until Ctrl-C.

    Port 0 picks a free port; on_ready(url) runs once the socket is bound.
    """
    from werkzeug.serving import make_server

    quiet_request_log()
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as error:
        raise InputError(f"cannot listen on {host}:{port} ({error.strerror or error})") from None
    state = app.extensions["draw"]
    state.port = server.server_port
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    on_ready(f"http://{f'[{shown}]' if ':' in shown else shown}:{state.port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def quiet_request_log():
    """No line per request (the page predicts several times a second while drawing); errors still show."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def allowed_hosts(state):
    """Host headers this server answers: its loopback names with its port, and --host if one was given."""
    names = list(LOOPBACK_NAMES)
    if state.host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        names.append(f"[{state.host}]" if ":" in state.host else state.host)
    return {f"{name}:{state.port}" for name in names}


def posted_image():
    return posted_png(request.get_json(silent=True) or {})[1]


def posted_png(body):
    """The body's "image": a PNG data URL of at most 1024x1024 -> (its bytes, the decoded image)."""
    text = body.get("image")
    if not isinstance(text, str) or not text.startswith(PNG_DATA_URL):
        abort(400, 'expected "image": a PNG data URL (data:image/png;base64,...)')
    try:
        data = base64.b64decode(text[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        abort(400, "the image is not valid base64")
    if not data.startswith(PNG_SIGNATURE):
        abort(400, "the image is not a PNG")
    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "PNG" or max(image.size) > MAX_IMAGE_SIDE:
            abort(400, f"the image must be a PNG of at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels, got {image.size}")
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        abort(400, f"the PNG cannot be read ({first_line(error)})")
    return data, image


def mnist_digit(image):
    try:
        return to_mnist_format(image)
    except InputError as error:
        abort(400, f"nothing to read: {error}")


def reading(reader, digit):
    """What the page shows: the 28x28 the network receives, its ten probabilities, and the digit read."""
    probabilities = [round(float(p), 6) for p in reader.probabilities(digit)]
    return {"digit": int(np.argmax(probabilities)), "probabilities": probabilities, "pixels": digit.tolist()}


def checked_label(label):
    if isinstance(label, bool) or not (isinstance(label, int) and 0 <= label <= 9
                                       or isinstance(label, str) and re.fullmatch(r"[0-9]", label)):
        abort(400, f'"label" must be one digit 0-9, got {label!r}')
    return int(label)


def checked_split(split):
    if split not in SPLITS:
        abort(400, f'"split" must be "train" or "validation", got {split!r}')
    return split


def write_new_png(data_dir, split, label, image_bytes):
    """Write the drawing as a new file in <data>/<split>/<label>/, named here, never over another."""
    root = data_dir.resolve()
    folder = (root / split / str(label)).resolve()
    if not folder.is_relative_to(root):  # cannot happen with checked names; a guard all the same
        abort(400, "refusing to write outside the data folder")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"drawn-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.png"
    target = folder / name
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".drawing-", suffix=".tmp", delete=False) as temporary:
        temporary.write(image_bytes)
    try:
        os.link(temporary.name, target)  # fails rather than replace a file of that name
    except FileExistsError:
        abort(409, f"{target.name} exists already; nothing was overwritten")
    finally:
        os.unlink(temporary.name)
    return target


def counts(data_dir):
    """Files per digit in each split, by the rule add_own_digits.py reads them with."""
    result = {}
    for split in SPLITS:
        folders = [Path(data_dir) / split / str(digit) for digit in range(10)]
        result[split] = [len(digit_files(folder)) if folder.is_dir() else 0 for folder in folders]
    return result
