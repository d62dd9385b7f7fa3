"""`add_own_digits.py draw`: a local page to draw digits, watch the network read them, and save them.

The page (static/draw.*) posts each drawing as a PNG; the server converts it with
digits.own_digits.to_mnist_format, reads it with calibrated probabilities (digits.ensemble), says when it
does not look like a digit at all (digits.not_a_digit), shows where the evidence for a digit lies
(digits.saliency), and saves confirmed drawings where add_own_digits.py reads them. In number mode the page
posts a whole written number, cut into digits and read by digits.numbers. docs/own-digits.md lists the
endpoints.

Safe by default: it answers only its own loopback host and port (no DNS rebinding), takes only
same-origin JSON objects of capped size and PNGs of at most 1024x1024, names every file itself and never
overwrites one; every refusal is a 4xx with a JSON {"error": ...}, never a 500.
"""

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
import errno
import io
import json
import logging
import os
from pathlib import Path
import re
import socket
import tempfile
import threading
import uuid

from flask import Flask, abort, g, jsonify, request, send_from_directory
import numpy as np
from PIL import Image, UnidentifiedImageError
from werkzeug.exceptions import HTTPException

from digits.data import to_inputs
from digits.ensemble import keras_models
from digits.errors import InputError, first_line
from digits.export_folder import EXPORT_FOLDER
from digits.runtimes import SUFFIXES
from digits.own_digits import digit_files, to_mnist_format
from digits.run_folder import RunFolder

STATIC = Path(__file__).resolve().parent / "static"
SPLITS = ("train", "validation")
MAX_REQUEST_BYTES = 512 * 1024  # far above a drawing's PNG
MAX_IMAGE_SIDE = 1024
PNG_DATA_URL = "data:image/png;base64,"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class Reader:
    """One saved model, or several read as their ensemble (digits.ensemble), with calibrated probabilities.

    `reload` picks up models fine-tuned since; with one model it can also switch to another run. `runtime`
    (digits.export_folder.RUNTIMES) says what reads each run, on every reload: with auto a run fine-tuned or
    recalibrated since its export is read with Keras again, as its export is no longer fresh.

    Heat maps follow gradients, which only a Keras model has: a run read through its export gets them from
    its own Keras model, loaded on the first heat map; an export given as a file has no run to take one
    from, and heat maps are refused (heat_maps_refused says why).

    Whether a drawing looks like a digit at all comes from each model's not-a-digit detector, kept in its run
    folder and fitted there, from the run's data, when the model file has none: on loading, so that the first
    stroke does not wait for it, and again on a reload when the model file changed. A model read through an
    export, or with no run.json beside it, has no detector, and there is no verdict (digit_verdicts_refused
    says why).
    """

    def __init__(self, paths, runtime="keras"):
        self.lock = threading.Lock()
        self.heat_map_lock = threading.Lock()  # one heat map at a time: each costs STEPS forward and backward passes
        self.paths = [Path(path) for path in ([paths] if isinstance(paths, (str, Path)) else paths)]
        self.runtime = runtime
        self.reload()

    def reload(self, path=None):
        """Load `path` (a run folder or a model file; by default the models read from now) and read with it.

        Raises InputError, in one line, when it cannot be loaded, or when a path is given to a
        reader of several models; the models read with so far stay.
        """
        if path is not None and len(self.paths) > 1:
            raise InputError(switching_refused(len(self.paths)))
        paths = self.paths if path is None else [Path(path)]
        from digits.ensemble import Ensemble

        ensemble = Ensemble(paths, self.runtime)  # a wrong path answers before TensorFlow loads
        detectors, digit_verdicts_refused = digit_detectors(ensemble)  # outside the lock: a fit takes seconds
        with self.lock:
            self.paths, self.ensemble = paths, ensemble
            self.path, self.name = paths[0], ensemble.name
            self.keras_models = None  # for heat maps, loaded when the first one is asked for
            self.heat_maps_refused = heat_maps_refusal(paths, ensemble)
            self.detectors, self.digit_verdicts_refused = detectors, digit_verdicts_refused
            self.models = [{"file": str(member.model_file), "temperature": member.temperature}
                           for member in ensemble.members]
            self.loaded = datetime.now().strftime("%H:%M:%S")

    def probabilities(self, digit):
        """The ten probabilities of one 28x28 digit: each model's calibrated, averaged over the models."""
        return self.batch_probabilities(to_inputs(digit[None]))[0]

    def read(self, digit):
        """One 28x28 digit's probabilities (as `probabilities`), its digit score and whether it looks like a digit
        (None and None when the models have no detector), all by the same models even while a reload swaps them."""
        inputs = to_inputs(digit[None])
        with self.lock:
            probabilities = self.ensemble.probabilities(inputs)[1][0]
            if self.detectors is None:
                return probabilities, None, None
            scores, looks_like_a_digit = self.ensemble.digit_verdicts(inputs, self.detectors)
        return probabilities, float(scores[0]), bool(looks_like_a_digit[0])

    def read_number(self, image):
        """A whole handwritten number in a PIL image, cut into digits and read left to right (digits.numbers.Number),
        each candidate digit with the models' calibrated probabilities. InputError, in one line, when there is no
        number to read: no ink, several lines of writing, too many pieces."""
        from digits.numbers import read_number

        return read_number(image, self.batch_probabilities)

    def batch_probabilities(self, inputs):
        """Calibrated probabilities (N, 10) of MNIST-format inputs (N, 28, 28, 1), averaged over the models."""
        with self.lock:
            return self.ensemble.probabilities(inputs)[1]

    def heat_map(self, digit, target):
        """Where the evidence for the class `target` lies in one 28x28 digit: (28, 28) in [-1, 1], positive
        where a pixel speaks for it (digits.saliency.heat_map, of the models' mean logit).

        Raises InputError, in one line, when the models have no Keras model to follow gradients through.
        """
        from digits.saliency import heat_map

        with self.lock:
            if self.heat_maps_refused:
                raise InputError(self.heat_maps_refused)
            if self.keras_models is None:
                self.keras_models = keras_models(self.paths, self.ensemble)
            models = self.keras_models
        with self.heat_map_lock:  # outside self.lock: readings go on while a map is computed
            try:
                return heat_map(models, to_inputs(digit[None]), [target])[0]
            except ValueError as error:  # a model that does not end in the Dense layer whose logits are explained
                raise InputError(f"no heat map: {first_line(error)}") from None


def digit_detectors(ensemble):
    """Each model's not-a-digit detector (digits.ensemble.Ensemble.detectors) and None, or None and why there is
    no verdict for these models."""
    try:
        return ensemble.detectors(), None
    except InputError as error:
        return None, f"no not-a-digit verdict: {first_line(error)}"


def heat_maps_refusal(paths, ensemble):
    """Why heat maps cannot be drawn for these models (None: they can): an export given as a file."""
    for path, member in zip(paths, ensemble.members, strict=True):
        if member.exported and Path(path).suffix in SUFFIXES:
            return (f"no heat maps: {path} is an export, which has no gradients to follow; start the page with "
                    "its run folder or .keras/.h5 model to see them")
    return None


def switching_refused(count):
    return (f"the page reads with {count} models averaged; switching to another run works when it reads "
            "with one (add_own_digits.py draw with one --model)")


@dataclass
class DrawState:
    # Reader, or anything with .path, .name, .models, .loaded, .heat_maps_refused, .digit_verdicts_refused,
    # .probabilities(digit), .read(digit), .heat_map(digit, target), .read_number(image), .reload(path=None)
    reader: object
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    runs_dir: Path = None  # the run folders the page may switch to are those directly in it
    saved: list = field(default_factory=list)  # paths of the drawings this server saved, for undo
    lock: threading.Lock = field(default_factory=threading.Lock)


def create_app(reader, data_dir, port, host="127.0.0.1", runs_dir=None):
    """The Flask app: the page, and its JSON endpoints /state, /predict, /heat-map, /read-number, /save, /undo-save,
    /reload.

    runs_dir holds the run folders the page may switch the model to (by default the folder
    that holds the starting model's run folder, e.g. models/ for models/cnn).
    """
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    runs_dir = Path(runs_dir) if runs_dir is not None else run_folder_of(reader.path).resolve().parent
    state = DrawState(reader, Path(data_dir), port, host, runs_dir)
    app.extensions["draw"] = state
    guard(app, state)
    add_page_routes(app, state)
    add_data_routes(app, state)
    add_model_routes(app, state)
    return app


def guard(app, state):
    """The page's security rules, before and after every request, and every error answered as JSON."""

    @app.before_request
    def only_this_page():
        if request.host not in allowed_hosts(state):
            abort(403, f"Host {brief(request.host)} is not this server (DNS rebinding is refused)")
        if request.method == "POST":
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"http://{request.host}":
                abort(403, f"Origin {brief(origin)} is not this page")
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin"):
                abort(403, "only this page may post")
            if not request.is_json:
                abort(400, "POST bodies must be JSON (Content-Type: application/json)")
            g.body = posted_object()

    @app.after_request
    def locked_down(response):
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def error_as_json(error):
        message = error.description if error.code != 413 else f"request larger than {MAX_REQUEST_BYTES // 1024} kB"
        return jsonify(error=message), error.code


def add_page_routes(app, state):
    @app.get("/")
    def page():
        return send_from_directory(STATIC, "draw.html")

    @app.get("/static/<name>")
    def static_file(name):
        return send_from_directory(STATIC, name)

    @app.get("/state")
    def current_state():
        return jsonify(**model_state(state), counts=counts(state.data_dir), saved=len(state.saved))


def add_data_routes(app, state):
    @app.post("/predict")
    def predict():
        digit = mnist_digit(posted_png(g.body)[1])
        return jsonify(reading(state.reader, digit))

    @app.post("/heat-map")
    def evidence():
        """{"image"} explains the digit read; {"image", "digit": D} explains D, e.g. the runner-up."""
        target = checked_digit(g.body["digit"], "digit") if "digit" in g.body else None
        digit = mnist_digit(posted_png(g.body)[1])
        if state.reader.heat_maps_refused:  # before reading: nothing is computed for a refusal
            abort(400, state.reader.heat_maps_refused)
        return jsonify(evidence_for(state.reader, digit, target))

    @app.post("/read-number")
    def number():
        """{"image"} of a whole number written on one line -> its digits, read left to right."""
        image = posted_png(g.body)[1]
        try:
            read = state.reader.read_number(image)
        except InputError as error:
            abort(400, f"no number read: {first_line(error)}")
        return jsonify(number_reading(read))

    @app.post("/save")
    def save():
        label, split = checked_label(g.body.get("label")), checked_split(g.body.get("split"))
        image_bytes, image = posted_png(g.body)
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


def add_model_routes(app, state):
    @app.post("/reload")
    def reload_model():
        """{} loads the current model file again; {"model": NAME} switches to the run folder NAME in runs_dir."""
        path = None
        if "model" in g.body and len(state.reader.models) > 1:
            abort(400, switching_refused(len(state.reader.models)))
        if "model" in g.body:
            path = state.runs_dir / checked_run(g.body["model"], state.runs_dir)
        try:
            state.reader.reload(path)
        except InputError as error:
            abort(400, first_line(error))
        return jsonify(model_state(state))


def model_state(state):
    """What the page shows of the model: its file (or files, with several), each one's temperature (None:
    uncalibrated), when it was loaded, its run and the runs to switch to, and whether heat maps and not-a-digit
    verdicts are given (else why not). With several models the page reads with their ensemble and cannot switch:
    it has no run, and no runs to switch to."""
    models, several = state.reader.models, len(state.reader.models) > 1
    return {"model": state.reader.name, "models": models, "loaded": state.reader.loaded,
            "runs_dir": str(state.runs_dir), "run": None if several else current_run(state.reader.path, state.runs_dir),
            "runs": [] if several else run_names(state.runs_dir),
            "heat_maps": not state.reader.heat_maps_refused, "heat_maps_refused": state.reader.heat_maps_refused,
            "digit_verdicts": not state.reader.digit_verdicts_refused,
            "digit_verdicts_refused": state.reader.digit_verdicts_refused}


def run_folder_of(path):
    """The run folder of a model path: the folder itself, or the folder a model file lies in (the folder
    above for an export in a run's export/)."""
    path = Path(path)
    if path.is_dir():
        return path
    return path.parent.parent if path.suffix in SUFFIXES and path.parent.name == EXPORT_FOLDER else path.parent


def run_names(runs_dir):
    """The folders directly in runs_dir that hold a model (model.keras or model.h5), by name."""
    try:
        folders = list(Path(runs_dir).iterdir())
    except OSError:  # no such folder, or not readable: nothing to switch to
        return []
    return sorted(folder.name for folder in folders if not folder.name.startswith(".")
                  and RunFolder(folder).model_file() is not None)


def current_run(model_path, runs_dir):
    """The name of the run the model comes from if that run lies in runs_dir, else None."""
    folder = run_folder_of(model_path).resolve()
    return folder.name if folder.parent == Path(runs_dir).resolve() else None


def checked_run(name, runs_dir):
    """A run's name as posted: one of run_names(runs_dir), never a path."""
    names = run_names(runs_dir)
    if not isinstance(name, str) or name not in names:
        abort(400, f'"model" must name a run folder in {runs_dir} that holds a model '
                   f'({", ".join(names) or "there are none"}), got {brief(name)}')
    return name


def listening_server(app, host, port):
    """Werkzeug's threaded server on a socket bound and listening here (port 0: a free one).

    Werkzeug binds by itself only to print two lines and sys.exit(1) when it cannot; binding
    here turns a port in use into one InputError line. Sets the app's port to the one bound.
    """
    from werkzeug.serving import BaseWSGIServer, get_sockaddr, make_server, select_address_family

    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    family = select_address_family(host, port)
    try:
        with socket.socket(family, socket.SOCK_STREAM) as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Werkzeug's own bind does
            listener.bind(get_sockaddr(host, port, family))
            # Werkzeug's own backlog (128): socketserver's 5 resets connections under a burst of requests.
            listener.listen(BaseWSGIServer.request_queue_size)
            server = make_server(host, port, app, threaded=True, fd=listener.fileno())  # takes a duplicate
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise InputError(f"cannot listen on {where}: the port is in use by another program "
                             "(choose another port, or 0 for a free one)") from None
        raise InputError(f"cannot listen on {where} ({error.strerror or first_line(error)})") from None
    app.extensions["draw"].port = server.port
    return server


def serve(app, host, port, on_ready):
    """Serve the app with Werkzeug's threaded server (never Flask's debug mode) until Ctrl-C.

    Port 0 picks a free port; on_ready(url) runs once the socket listens. A port that cannot
    be listened on (in use, not allowed) raises InputError.
    """
    quiet_request_log()
    server = listening_server(app, host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    on_ready(f"http://{f'[{shown}]' if ':' in shown else shown}:{server.port}/")
    try:
        server.serve_forever()
    finally:
        server.server_close()


def quiet_request_log():
    """No line per request (the page predicts several times a second while drawing); errors still show."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def allowed_hosts(state):
    """Host headers this server answers: its loopback names with its port, and --host if one was given.

    On port 80 the names alone too: Werkzeug drops http's default port from the host it reports.
    """
    names = list(LOOPBACK_NAMES)
    if state.host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):
        names.append(f"[{state.host}]" if ":" in state.host else state.host)
    hosts = {f"{name}:{state.port}" for name in names}
    return hosts | set(names) if state.port == 80 else hosts


def posted_object():
    """The POST's body, which must be a JSON object: anything else is refused with a 400, never a 500."""
    try:
        body = json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        abort(400, "the body is not valid JSON")
    if not isinstance(body, dict):
        abort(400, f"the body must be a JSON object, got {json_kind(body)}")
    return body


def json_kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number")


def brief(value, limit=40):
    """A posted value as an error message quotes it: its repr, cut short (a value may be as long as the body)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def posted_png(body):
    """The body's "image": a PNG data URL of at most 1024x1024 -> (its bytes, the decoded image)."""
    text = body.get("image")
    if not isinstance(text, str) or not text.startswith(PNG_DATA_URL):
        abort(400, 'expected "image": a PNG data URL (data:image/png;base64,...)')
    try:
        data = base64.b64decode(text[len(PNG_DATA_URL):], validate=True)
    except (binascii.Error, ValueError):
        abort(400, "the image is not valid base64")
    return data, decoded_png(data)


def decoded_png(data):
    """A PNG's bytes -> the image, its size checked before its pixels are decoded (no decompression bomb).

    Also refused: an animated PNG (the page draws one frame, and a saved file holds what was read).
    """
    too_large = f"the image must be a PNG of at most {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels"
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])  # reads the header only
    except UnidentifiedImageError:
        abort(400, "the image is not a PNG, or its header is damaged")
    except Image.DecompressionBombError:
        abort(400, too_large)
    except Exception as error:  # Pillow raises many kinds of error for a damaged file
        abort(400, f"the PNG cannot be read ({first_line(error)})")
    width, height = image.size
    if not (0 < width <= MAX_IMAGE_SIDE and 0 < height <= MAX_IMAGE_SIDE):
        abort(400, f"{too_large}, got {width}x{height}")
    if getattr(image, "is_animated", False):
        abort(400, "the image must be one still PNG picture, not an animation")
    try:
        image.load()
    except Exception as error:
        abort(400, f"the PNG cannot be read ({first_line(error)})")
    return image


def mnist_digit(image):
    try:
        return to_mnist_format(image)
    except InputError as error:
        abort(400, f"nothing to read: {error}")


def reading(reader, digit):
    """What the page shows: the 28x28 the network receives, its ten probabilities, the digit read, and whether
    the drawing looks like a digit at all with its digit score, rounded as predict --json rounds it (both None:
    no verdict for these models, /state says why)."""
    probabilities, score, looks_like_a_digit = reader.read(digit)
    probabilities = [round(float(p), 6) for p in probabilities]
    return {"digit": int(np.argmax(probabilities)), "probabilities": probabilities, "pixels": digit.tolist(),
            "looks_like_a_digit": looks_like_a_digit, "digit_score": None if score is None else round(score, 4)}


def number_reading(number):
    """What the page shows of a number read (digits.numbers.Number): the number, and per digit left to right the
    digit read, its probability and ten probabilities (rounded as /predict rounds them), its box in the image
    (left, top, right, bottom) and the 28x28 the network received; the boxes of the pieces left out (, . -)."""
    digits = []
    for digit in number.digits:
        probabilities = [round(float(p), 6) for p in digit.probabilities]
        best = int(np.argmax(probabilities))
        digits.append({"digit": best, "probability": probabilities[best], "probabilities": probabilities,
                       "box": [int(side) for side in digit.box], "pixels": np.asarray(digit.pixels).tolist()})
    return {"number": "".join(str(digit["digit"]) for digit in digits), "digits": digits,
            "left_out": [[int(side) for side in box] for box in number.left_out]}


def evidence_for(reader, digit, target=None):
    """Where the evidence for `target` (default: the digit read) lies in the 28x28 digit, with the digit read,
    the runner-up and target's probability, so the page can caption the map, and the pixels it was drawn on."""
    probabilities = np.round(reader.probabilities(digit), 6)  # as /predict rounds them: the same digit read
    read, runner_up = (int(index) for index in np.argsort(-probabilities, kind="stable")[:2])
    target = read if target is None else target
    try:
        heat = reader.heat_map(digit, target)
    except InputError as error:
        abort(400, first_line(error))
    return {"digit": target, "read": read, "runner_up": runner_up, "probability": round(float(probabilities[target]), 6),
            "heat_map": np.round(np.asarray(heat, dtype=float), 3).tolist(), "pixels": digit.tolist()}


def checked_label(label):
    return checked_digit(label, "label")


def checked_digit(value, name):
    """A posted digit, 0-9 or "0"-"9", as an int; anything else is a 400 naming the field."""
    if isinstance(value, bool) or not (isinstance(value, int) and 0 <= value <= 9
                                       or isinstance(value, str) and re.fullmatch(r"[0-9]", value)):
        abort(400, f'"{name}" must be one digit 0-9, got {brief(value)}')
    return int(value)


def checked_split(split):
    if split not in SPLITS:
        abort(400, f'"split" must be "train" or "validation", got {brief(split)}')
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
