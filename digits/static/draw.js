// The draw page: strokes on a canvas, the network's reading of them, whether they look like a digit at all,
// where its evidence lies, and saving them as data; in number mode, a whole number written on a wide pad and
// read digit by digit. Talks only to its own server: /state, /predict, /heat-map, /read-number, /save,
// /undo-save, /reload.
"use strict";

// The drawing area in CSS pixels, per mode: one digit in a square, or a number on one line in a wide pad
// (within the server's 1024 pixels a side). The PNG posted is always this size, whatever the screen.
const PADS = {digit: {width: 280, height: 280}, number: {width: 840, height: 280}};
// Live readings while drawing, at most this often: a number is cut and read as dozens of candidate digits.
const READ_EVERY_MS = {digit: 150, number: 300};
// "unsure" below this probability of the digit read. The server sends calibrated probabilities (each
// run's temperature, fitted on its validation slice), so a reading at 50% is right about half the time.
const UNSURE_BELOW = 0.5;

const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const boxesCanvas = document.getElementById("boxes");
const boxes = boxesCanvas.getContext("2d");
const preview = document.getElementById("preview").getContext("2d");
const widthInput = document.getElementById("width");
const statusLine = document.getElementById("status");

let mode = "digit";        // "digit" or "number": which pad is shown and what reads it
const drawings = {digit: [], number: []};  // each mode keeps its own drawing while the other is shown
let strokes = drawings.digit;  // the shown drawing: each {width, points: [[x, y], ...]} in CSS pixels
let current = null;        // the stroke being drawn
let label = null;          // the label to save with
let labelChosen = false;   // true once the person picked a label for this drawing
let lastReading = null;    // {digit, probabilities, pixels}
let inFlight = false, again = false, lastPredict = 0;

// Drawing ---------------------------------------------------------------------------------

function fitToScreen() {
  // A backing store of the pad's size x devicePixelRatio keeps strokes sharp on high-DPI screens.
  const ratio = window.devicePixelRatio || 1, {width, height} = PADS[mode];
  for (const [canvas, context] of [[pad, ctx], [boxesCanvas, boxes]]) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  redraw();
  drawBoxes(lastNumber);
}

function redraw() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, PADS[mode].width, PADS[mode].height);
  for (const stroke of strokes) drawStroke(stroke);
}

function drawStroke(stroke) {
  const points = stroke.points;
  ctx.strokeStyle = ctx.fillStyle = "#000";
  ctx.lineWidth = stroke.width;
  ctx.lineCap = ctx.lineJoin = "round";
  if (points.length === 1) {  // a dot
    ctx.beginPath();
    ctx.arc(points[0][0], points[0][1], stroke.width / 2, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  // Smooth: a quadratic curve through the midpoints, each point a control point.
  ctx.beginPath();
  ctx.moveTo(points[0][0], points[0][1]);
  for (let i = 1; i < points.length - 1; i++) {
    const midX = (points[i][0] + points[i + 1][0]) / 2, midY = (points[i][1] + points[i + 1][1]) / 2;
    ctx.quadraticCurveTo(points[i][0], points[i][1], midX, midY);
  }
  const last = points[points.length - 1];
  ctx.lineTo(last[0], last[1]);
  ctx.stroke();
}

function pointOf(event) {
  const box = pad.getBoundingClientRect(), {width, height} = PADS[mode];
  return [(event.clientX - box.left) * width / box.width, (event.clientY - box.top) * height / box.height];
}

pad.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  current = {width: Number(widthInput.value), points: [pointOf(event)]};
  strokes.push(current);
  drawingChanged();
  document.body.dataset.lastPointer = event.pointerType;  // mouse, touch or pen: for people and tests
  redraw();
});

pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const each of (events.length ? events : [event])) current.points.push(pointOf(each));
  redraw();
  if (performance.now() - lastPredict > READ_EVERY_MS[mode]) read();
});

function endStroke(event) {
  if (!current) return;
  event.preventDefault();
  current = null;
  read();
  explainSoon();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function undoStroke() {
  strokes.pop();
  redraw();
  read();
  drawingChanged();
  if (strokes.length) explainSoon(); else showEvidence(null);
}

function clearDrawing() {
  strokes = drawings[mode] = [];
  redraw();
  drawingChanged();
  if (mode === "number") {
    showNumber(null);
    say("");
    return;
  }
  labelChosen = false;
  showReading(null);
  showEvidence(null);
}

widthInput.addEventListener("input", () => { document.getElementById("width-value").textContent = widthInput.value; });
document.getElementById("undo").addEventListener("click", undoStroke);
document.getElementById("clear").addEventListener("click", clearDrawing);

function drawingAsPNG() {
  // Always the pad's size in CSS pixels, whatever the screen's pixel ratio, so the server gets one size.
  const copy = document.createElement("canvas"), {width, height} = PADS[mode];
  copy.width = width;
  copy.height = height;
  copy.getContext("2d").drawImage(pad, 0, 0, width, height);
  return copy.toDataURL("image/png");
}

// Talking to the server ----------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({error: `${response.status} ${response.statusText}`}));
  if (!response.ok) throw new Error(answer.error || `${response.status}`);
  return answer;
}

function read() {
  if (mode === "number") readNumber(); else predict();
}

function showBusy() {
  document.body.dataset.busy = String(inFlight || numberInFlight);
}

async function predict() {
  if (!strokes.length) { showReading(null); return; }
  if (inFlight) { again = true; return; }
  inFlight = true;
  showBusy();
  lastPredict = performance.now();
  try {
    showReading(await post("/predict", {image: drawingAsPNG()}));
  } catch (error) {
    say(error.message, true);
  } finally {
    inFlight = false;
    if (again && mode === "digit") { again = false; predict(); } else { again = false; showBusy(); }
  }
}

// What the network reads -------------------------------------------------------------------------

const bars = document.getElementById("bars");
for (let digit = 0; digit < 10; digit++) {
  bars.insertAdjacentHTML("beforeend",
    `<li data-digit="${digit}"><span class="digit">${digit}</span><span class="track"><span class="fill"></span></span>` +
    `<span class="value">–</span></li>`);
}

function showReading(reading) {
  lastReading = reading;
  showDigitVerdict(reading);
  const verdict = document.getElementById("verdict");
  preview.fillStyle = "#000";
  preview.fillRect(0, 0, 28, 28);
  bars.querySelectorAll("li").forEach((row, digit) => {
    const p = reading ? reading.probabilities[digit] : 0;
    row.classList.toggle("top", !!reading && digit === reading.digit);
    row.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    row.querySelector(".value").textContent = reading ? `${(100 * p).toFixed(1)}%` : "–";
  });
  document.getElementById("save").disabled = !reading;
  if (!reading) {
    verdict.textContent = "";
    verdict.className = "";
    return;
  }
  const pixels = preview.createImageData(28, 28);
  reading.pixels.flat().forEach((value, i) => {
    pixels.data.set([value, value, value, 255], 4 * i);
  });
  preview.putImageData(pixels, 0, 0);
  const best = reading.probabilities[reading.digit];
  const unsure = best < UNSURE_BELOW;
  verdict.textContent = unsure ? `unsure: ${reading.digit} at only ${(100 * best).toFixed(0)}%` : `reads ${reading.digit}`;
  verdict.className = unsure ? "unsure" : "";
  if (!labelChosen) setLabel(reading.digit, false);
  document.body.dataset.readings = String(Number(document.body.dataset.readings || 0) + 1);
}

function showDigitVerdict(reading) {
  // Only for a drawing at rest: half a digit, mid-stroke, need not look like one. No verdict (null) when the
  // server's models have no not-a-digit detector; /state says why.
  const notice = document.getElementById("not-a-digit");
  notice.hidden = !reading || current !== null || reading.looks_like_a_digit !== false;
  notice.textContent = notice.hidden ? "" :
    `This does not look like a digit (digit score ${reading.digit_score.toFixed(3)}). ` +
    "The probabilities above are what the network reads in it all the same.";
}

// Where the evidence lies ------------------------------------------------------------------------
// A heat map costs the server dozens of forward and backward passes, so it is asked for only once the pen
// has rested, not while drawing: a second stroke begun within EXPLAIN_AFTER_MS (the bar of a 4 or a 7)
// cancels the first one's map.
const EXPLAIN_AFTER_MS = 300;
// matplotlib's RdBu_r at eleven points from -1 to 1, the colours of the figures' heat maps (plots.HEAT_MAP_COLOURS).
const HEAT_COLOURS = ["#053061", "#2065ab", "#4393c3", "#90c4dd", "#d1e5f0", "#f7f6f6", "#fddbc7", "#f3a481",
                      "#d6604d", "#b1182b", "#67001f"].map((hex) => [1, 3, 5].map((at) => parseInt(hex.slice(at, at + 2), 16)));

const heatMap = document.getElementById("heat-map").getContext("2d");
const heatCaption = document.getElementById("heat-caption");
const otherButton = document.getElementById("heat-other");
let edits = 0;                // bumped by every change to the drawing, so a map of an older drawing is dropped
let explained = null;         // the digit whose evidence is asked for; null: the digit read
let evidence = null;          // the last map shown: {digit, read, runner_up, probability, heat_map, pixels}
let heatMapsRefused = null;   // why the server draws no heat maps for its models (null: it does)
let explainTimer = null, explaining = false, explainAgain = false;

function drawingChanged() {
  edits++;
  explained = null;  // a new drawing has its own digit read and runner-up
  clearTimeout(explainTimer);
  document.getElementById("heat-map").classList.toggle("stale", evidence !== null);
}

function explainSoon() {
  clearTimeout(explainTimer);
  explainTimer = setTimeout(explain, EXPLAIN_AFTER_MS);
}

async function explain() {
  if (mode !== "digit" || !strokes.length || current || heatMapsRefused) return;
  if (explaining) { explainAgain = true; return; }
  explaining = true;
  document.body.dataset.explaining = "true";
  const asked = edits, body = {image: drawingAsPNG()};
  if (explained !== null) body.digit = explained;
  try {
    const answer = await post("/heat-map", body);
    if (asked === edits) showEvidence(answer);
  } catch (error) {
    if (asked === edits) showEvidence(null, error.message);
  } finally {
    explaining = false;
    if (explainAgain) { explainAgain = false; explain(); } else document.body.dataset.explaining = "false";
  }
}

function heatColour(value) {
  const at = (Math.max(-1, Math.min(1, value)) + 1) / 2 * (HEAT_COLOURS.length - 1);
  const low = Math.min(Math.floor(at), HEAT_COLOURS.length - 2), part = at - low;
  return HEAT_COLOURS[low].map((channel, i) => channel + part * (HEAT_COLOURS[low + 1][i] - channel));
}

function paintHeatMap(pixels, heat) {
  // As plots.draw_heat_map: the ink in mid grey on white, each pixel's colour as opaque as its evidence is strong.
  const image = heatMap.createImageData(28, 28);
  for (let row = 0; row < 28; row++) {
    for (let column = 0; column < 28; column++) {
      const grey = 255 - pixels[row][column] / 2, value = heat[row][column];
      const opacity = 0.9 * Math.min(1, Math.abs(value));
      const colour = heatColour(value).map((channel) => grey + opacity * (channel - grey));
      image.data.set([...colour, 255], 4 * (28 * row + column));
    }
  }
  heatMap.putImageData(image, 0, 0);
}

function evidenceCaption(shown) {
  const percent = `${(100 * shown.probability).toFixed(shown.probability < 0.001 ? 2 : 1)}%`;
  const which = shown.digit === shown.read ? ", the digit read" : shown.digit === shown.runner_up ? ", the runner-up" : "";
  return `Evidence for ${shown.digit}${which} (${percent}): red pixels speak for ${shown.digit}, blue against it.`;
}

function showEvidence(shown, error) {
  evidence = shown;
  document.getElementById("heat-map").classList.remove("stale");
  bars.querySelectorAll("li").forEach((row, digit) => row.classList.toggle("explained", !!shown && digit === shown.digit));
  otherButton.hidden = !shown;
  heatCaption.className = error || (heatMapsRefused && !shown) ? "caption error" : "caption";
  if (!shown) {
    heatMap.fillStyle = "#fff";
    heatMap.fillRect(0, 0, 28, 28);
    heatCaption.textContent = error || heatMapsRefused || "Lift the pen to see which pixels made the digit.";
    return;
  }
  paintHeatMap(shown.pixels, shown.heat_map);
  heatCaption.textContent = evidenceCaption(shown);
  otherButton.textContent = shown.digit === shown.read
    ? `Evidence for the runner-up, ${shown.runner_up}` : `Back to the digit read, ${shown.read}`;
  document.body.dataset.heatMaps = String(Number(document.body.dataset.heatMaps || 0) + 1);
}

function explainDigit(digit) {
  // The digit read is asked for as "the digit read" (null), so that it stays so.
  explained = evidence && digit === evidence.read ? null : digit;
  clearTimeout(explainTimer);
  explain();
}

otherButton.addEventListener("click", () => {
  if (evidence) explainDigit(evidence.digit === evidence.read ? evidence.runner_up : evidence.read);
});
bars.addEventListener("click", (event) => {
  const row = event.target.closest("li");
  if (row) explainDigit(Number(row.dataset.digit));
});
bars.querySelectorAll("li").forEach((row) => { row.title = `Where the evidence for ${row.dataset.digit} lies`; });

// Saving -------------------------------------------------------------------------------------------

const labels = document.getElementById("labels");
for (let digit = 0; digit < 10; digit++) {
  labels.insertAdjacentHTML("beforeend",
    `<button type="button" role="radio" aria-checked="false" data-label="${digit}">${digit}</button>`);
}
labels.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (button) setLabel(Number(button.dataset.label), true);
});

function setLabel(digit, chosen) {
  label = digit;
  labelChosen = labelChosen || chosen;
  labels.querySelectorAll("button").forEach((button) => {
    button.setAttribute("aria-checked", String(Number(button.dataset.label) === digit));
  });
}

function split() {
  return document.querySelector("input[name=split]:checked").value;
}

async function save() {
  if (!strokes.length || label === null) return;
  const image = drawingAsPNG();
  try {
    const saved = await post("/save", {image, label, split: split()});
    addToStrip(image, saved);
    showCounts(saved.counts);
    const misread = saved.read !== saved.label ? ` (the network read ${saved.read})` : "";
    say(`Saved ${saved.file}${misread}.`);
    document.getElementById("undo-save").disabled = false;
    clearDrawing();
  } catch (error) {
    say(`Not saved: ${error.message}`, true);
  }
}

async function undoSave() {
  try {
    const answer = await post("/undo-save");
    const strip = document.getElementById("strip");
    strip.lastElementChild && strip.lastElementChild.remove();
    showCounts(answer.counts);
    say(`Deleted ${answer.removed}.`);
    document.getElementById("undo-save").disabled = !strip.children.length;
  } catch (error) {
    say(error.message, true);
  }
}

function addToStrip(image, saved) {
  const item = document.createElement("li");
  const misread = saved.read !== saved.label;
  item.className = misread ? "misread" : "";
  item.title = `${saved.file}: saved as ${saved.label}, read as ${saved.read}`;
  const picture = document.createElement("img");
  picture.src = image;
  picture.alt = `a drawn ${saved.label}`;
  item.append(picture, `${saved.label} (${saved.split === "train" ? "train" : "val."})` + (misread ? `, read ${saved.read}` : ""));
  document.getElementById("strip").append(item);
}

function showCounts(counts) {
  for (const name of ["train", "validation"]) {
    const row = document.getElementById(`count-${name}`);
    row.querySelectorAll("td").forEach((cell) => cell.remove());
    counts[name].forEach((count) => row.insertAdjacentHTML("beforeend", `<td>${count}</td>`));
  }
}

function say(message, isError) {
  // The status line of the panel shown: the save panel's, or the number's.
  const line = mode === "number" ? document.getElementById("number-status") : statusLine;
  line.textContent = message;
  line.className = isError ? "error" : "";
}

document.getElementById("save").addEventListener("click", save);
document.getElementById("undo-save").addEventListener("click", undoSave);

// A whole number ----------------------------------------------------------------------------------
// The server cuts the writing into digits (digits.numbers) and reads each as the digit mode reads one; the
// page shows the number, each digit's 28x28 view with its reading, and the digits' boxes over the writing.

const numberDigits = document.getElementById("number-digits");
let lastNumber = null;  // {number, digits: [{digit, probability, probabilities, box, pixels}], left_out: [boxes]}
let numberInFlight = false, numberAgain = false;

async function readNumber() {
  if (!strokes.length) { showNumber(null); say(""); return; }
  if (numberInFlight) { numberAgain = true; return; }
  numberInFlight = true;
  showBusy();
  lastPredict = performance.now();
  try {
    const answer = await post("/read-number", {image: drawingAsPNG()});
    if (mode === "number" && strokes.length) { showNumber(answer); say(""); }
  } catch (error) {
    // No number to read (say, two lines of writing): said in place of the number, and its boxes dropped.
    if (mode === "number" && strokes.length) { showNumber(null); say(error.message, true); }
  } finally {
    numberInFlight = false;
    if (numberAgain && mode === "number") { numberAgain = false; readNumber(); } else { numberAgain = false; showBusy(); }
  }
}

function showNumber(reading) {
  lastNumber = reading;
  const shown = document.getElementById("number-read");
  shown.textContent = reading ? reading.number : "–";
  shown.classList.toggle("empty", !reading);
  numberDigits.replaceChildren(...(reading ? reading.digits.map(digitView) : []));
  drawBoxes(reading);
  if (reading) document.body.dataset.numberReadings = String(Number(document.body.dataset.numberReadings || 0) + 1);
}

function digitView(found, index) {
  // One digit as the network received it, with the digit read and its probability ("unsure" below UNSURE_BELOW).
  const item = document.createElement("li"), view = document.createElement("canvas");
  const unsure = found.probability < UNSURE_BELOW, percent = `${(100 * found.probability).toFixed(1)}%`;
  view.width = view.height = 28;
  const picture = view.getContext("2d"), pixels = picture.createImageData(28, 28);
  found.pixels.flat().forEach((value, i) => pixels.data.set([value, value, value, 255], 4 * i));
  picture.putImageData(pixels, 0, 0);
  const digit = document.createElement("span"), value = document.createElement("span");
  digit.className = "digit";
  digit.textContent = found.digit;
  value.className = "value";
  value.textContent = unsure ? `unsure, ${percent}` : percent;
  item.className = unsure ? "unsure" : "";
  item.title = `Digit ${index + 1}: read as ${found.digit} (${percent}), as the network received it (28×28)`;
  item.append(view, digit, value);
  return item;
}

function drawBoxes(reading) {
  // Over the writing: each digit's box and the digit read, red when unsure; the pieces left out in grey.
  const {width, height} = PADS[mode], colours = getComputedStyle(document.documentElement);
  boxes.clearRect(0, 0, width, height);
  if (!reading || mode !== "number") return;
  boxes.lineWidth = 2;
  boxes.setLineDash([5, 4]);
  boxes.strokeStyle = colours.getPropertyValue("--muted");
  for (const [left, top, right, bottom] of reading.left_out) {
    boxes.strokeRect(left - 3, top - 3, right - left + 6, bottom - top + 6);
  }
  boxes.setLineDash([]);
  boxes.font = "600 16px system-ui, sans-serif";
  boxes.textBaseline = "top";
  for (const found of reading.digits) {
    const [left, top, right, bottom] = found.box;
    const colour = colours.getPropertyValue(found.probability < UNSURE_BELOW ? "--bad" : "--accent");
    boxes.strokeStyle = boxes.fillStyle = colour;
    boxes.strokeRect(left - 4, top - 4, right - left + 8, bottom - top + 8);
    const tag = `${found.digit}`, tagWidth = boxes.measureText(tag).width + 10;
    const tagTop = top - 4 >= 22 ? top - 26 : Math.min(bottom + 4, height - 22);  // above the box, else below
    boxes.fillRect(left - 4, tagTop, tagWidth, 22);
    boxes.fillStyle = "#fff";
    boxes.fillText(tag, left + 1, tagTop + 3);
  }
}

// Digit or number -------------------------------------------------------------------------------------

function setMode(next) {
  if (next === mode || current) return;  // not in the middle of a stroke
  mode = next;
  strokes = drawings[mode];
  document.body.dataset.mode = mode;
  for (const name of Object.keys(PADS)) {
    document.getElementById(`mode-${name}`).setAttribute("aria-pressed", String(name === mode));
  }
  const number = mode === "number";
  document.getElementById("title").textContent = number ? "Draw a number" : "Draw a digit";
  pad.setAttribute("aria-label", number ? "Drawing area: write a number on one line" : "Drawing area: draw one digit");
  for (const section of document.querySelectorAll(".seen, .read, .save, .strip")) section.hidden = number;
  document.getElementById("number").hidden = !number;
  history.replaceState(null, "", number ? "#number" : location.pathname + location.search);
  fitToScreen();
  read();
  if (!number && strokes.length) explainSoon();
}

document.getElementById("mode-digit").addEventListener("click", () => setMode("digit"));
document.getElementById("mode-number").addEventListener("click", () => setMode("number"));

// The model --------------------------------------------------------------------------------------

const runSelect = document.getElementById("run");
let modelState = null;  // the server's last word on the model: {model, models, loaded, run, runs, runs_dir}

function temperatureText(temperature) {
  return temperature === null ? "uncalibrated" : `T = ${temperature.toFixed(2)}`;
}

function calibrationText(models) {
  // One model: its temperature, or that it has none. Several: they are averaged, each with its own.
  if (models.length === 1) {
    return models[0].temperature === null
      ? "uncalibrated: its run has no temperature" : `calibrated, ${temperatureText(models[0].temperature)}`;
  }
  const each = models.map((model) => temperatureText(model.temperature)).join(", ");
  return `ensemble of ${models.length}: their calibrated probabilities averaged (${each})`;
}

function showModel(state) {
  modelState = state;
  document.getElementById("model-name").textContent = state.model;
  document.getElementById("model-loaded").textContent = `(loaded ${state.loaded})`;
  const calibration = document.getElementById("model-calibration");
  calibration.textContent = calibrationText(state.models);
  calibration.title = "Each run's temperature, fitted on its validation slice, softens or sharpens its probabilities" +
    (state.models.length > 1 ? "; started with several models, the page reads with all of them and does not switch runs" : "");
  // The run folders in runs_dir that hold a model; names only, as the server takes them back.
  const options = state.runs.map((name) => new Option(name, name, false, name === state.run));
  if (state.run === null) {  // started from a model outside runs_dir
    options.unshift(new Option("another run…", "", true, true));
    options[0].disabled = true;
  }
  runSelect.replaceChildren(...options);
  runSelect.title = `Switch to the model of another run folder in ${state.runs_dir}, e.g. the fine-tuned one`;
  document.getElementById("run-choice").hidden = !state.runs.length || state.models.length > 1;
  heatMapsRefused = state.heat_maps ? null : state.heat_maps_refused;
  if (heatMapsRefused) showEvidence(null);
}

async function loadModel(body, done) {
  runSelect.disabled = document.getElementById("reload").disabled = true;
  document.body.dataset.loading = "true";
  try {
    showModel(await post("/reload", body));
    say(done);
    read();
    explainSoon();  // the new model's evidence
  } catch (error) {
    if (modelState) showModel(modelState);  // the server still reads with the model it had
    say(`Reload failed: ${error.message}`, true);
  } finally {
    runSelect.disabled = document.getElementById("reload").disabled = false;
    document.body.dataset.loading = "false";
  }
}

document.getElementById("reload").addEventListener("click", () => loadModel({}, "Model reloaded."));
runSelect.addEventListener("change", () => {
  loadModel({model: runSelect.value}, `Switched to ${runSelect.value}.`);
});

// Back on the page (say, after fine-tuning into a new run folder): list the runs again.
window.addEventListener("focus", () => {
  if (document.activeElement === runSelect || document.body.dataset.loading === "true") return;
  fetch("/state").then((response) => response.json()).then((state) => {
    if (document.body.dataset.loading !== "true") showModel(state);
  }).catch(() => {});
});

// Keys: 0-9 label, Enter save (digit mode), Z undo stroke, Esc clear (not while choosing a run) ----------

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches("input[type=text], select")) return;
  if (mode === "digit" && /^[0-9]$/.test(event.key)) setLabel(Number(event.key), true);
  else if (mode === "digit" && event.key === "Enter") { event.preventDefault(); save(); }
  else if (event.key === "z" || event.key === "Z") undoStroke();
  else if (event.key === "Escape") clearDrawing();
});

// Start ------------------------------------------------------------------------------------------

window.addEventListener("resize", fitToScreen);
document.body.dataset.mode = mode;
fitToScreen();
showReading(null);
showEvidence(null);
if (location.hash === "#number") setMode("number");
fetch("/state").then((response) => response.json()).then((state) => {
  showModel(state);
  showCounts(state.counts);
  document.body.dataset.ready = "true";
}).catch((error) => say(`Cannot reach the server: ${error.message}`, true));
