"""The README's screenshots of the dashboards, taken in Debian's Chromium (headless, 1400x900):
TensorBoard's scalars of a training run, TensorBoard's HParams dashboard of a sweep, and
optuna-dashboard on that sweep's storage. Make the run and the sweep first (minutes on a CPU):

    python train_cnn.py --limit 6000 --epochs 5 --validation-split 0.1 --schedule cosine \\
        --warmup-epochs 1 --learning-rate 0.002 --out /work/runs/tb_demo
    python sweep_hparams.py custom --grid "optimizer=sgd,rmsprop,adam dropout=0.1,0.4" \\
        --limit 3000 --epochs 2 --storage /work/runs/tb_sweep/sweeps.log
    python bench/dashboards_screenshots.py --run /work/runs/tb_demo --storage /work/runs/tb_sweep/sweeps.log

It writes docs/figures/tensorboard_scalars.png, tensorboard_hparams.png and optuna_dashboard.png
(--out for another folder). The run's logs are read from its tensorboard/; the sweep's HParams
logs are written afresh from the storage into a temporary folder, as `sweep_hparams.py tables
--tensorboard` writes them, so any storage will do, the reproduction's results/report/sweeps.log
included. Both servers listen on 127.0.0.1 only and are stopped on the way out.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
from pathlib import Path
import sys
import tempfile
import time

from PIL import Image

from digits.sweeps.storage import open_storage
from digits.sweeps.hparams import write_sweep_logs
from harness import browser
from harness.servers import ServerDidNotStart, get_json, installed_command, served

WIDTH, HEIGHT = 1400, 900
# Find an element by its text, or the first that matches a CSS selector, through the shadow
# roots TensorBoard's Polymer pages are made of.
FIND = """
function find(root, text) {
  for (const element of root.querySelectorAll('*')) {
    if (element.shadowRoot) {
      const found = find(element.shadowRoot, text);
      if (found) return found;
    }
    if (element.children.length === 0 && element.textContent.trim() === text) return element;
  }
  return null;
}
function first(root, selector) {
  const found = root.querySelector(selector);
  if (found) return found;
  for (const element of root.querySelectorAll('*')) {
    const inside = element.shadowRoot && first(element.shadowRoot, selector);
    if (inside) return inside;
  }
  return null;
}
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a train_cnn.py run folder, with its tensorboard/ logs")
    parser.add_argument("--storage", required=True, help="a sweep's storage: a journal file or sqlite:///FILE")
    parser.add_argument("--study", help="the study optuna-dashboard shows (default: the one with the most trials)")
    parser.add_argument("--out", default="docs/figures", help="folder for the screenshots (default: %(default)s)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds to let the charts draw once their page is there (default: %(default)s)")
    return parser.parse_args()


def log_runs(logdir):
    """The runs TensorBoard finds in `logdir`: every folder holding an event file, by its path in it."""
    return {str(path.parent.relative_to(logdir)) for path in Path(logdir).rglob("events.out.tfevents.*")}


def wait_for_text(driver, text, timeout=60):
    """Wait until an element showing `text` is on the page, shadow roots included; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        element = driver.execute_script(FIND + "return find(document, arguments[0]);", text)
        if element is not None:
            return element
        time.sleep(0.5)
    sys.exit(f"dashboards_screenshots.py: {driver.current_url} never showed {text!r}")


def screenshot(driver, url, wait_for, path, settle, click=(), crop_to=None):
    """Open `url`, wait for `wait_for`, click the elements showing the texts `click` one by one, let
    the charts draw and save the page, cut below the first element matching the selector `crop_to`."""
    driver.get(url)
    wait_for_text(driver, wait_for)
    for text in click:
        wait_for_text(driver, text).click()
    time.sleep(settle)
    driver.save_screenshot(str(path))
    if crop_to:
        bottom = driver.execute_script(FIND + "return first(document, arguments[0]).getBoundingClientRect().bottom;",
                                       crop_to)
        with Image.open(path) as image:
            image.crop((0, 0, image.width, min(image.height, round(bottom) + 12))).save(path)
    print(f"{path}: {url}")


def main():
    args = parse_args()
    paths, missing = browser.find_chromium()
    if paths is None:
        sys.exit(f"dashboards_screenshots.py: {missing}")
    run_logs = Path(args.run) / "tensorboard"
    if not (run_logs / "train").is_dir():
        sys.exit(f"dashboards_screenshots.py: {run_logs}: no TensorBoard logs of a run (train it with train_cnn.py)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    storage = open_storage(args.storage)

    driver = browser.start_chromium(paths, WIDTH, HEIGHT)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the page itself WIDTH x HEIGHT
                           {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False})
    try:
        tensorboard = [installed_command("tensorboard"), "--logdir"]
        expected = log_runs(run_logs)
        with served([*tensorboard, str(run_logs)], "/data/runs", lambda runs: expected <= set(runs)) as url:
            # Smoothing off, every point in the charts (the first epochs' too), the filtered charts alone.
            screenshot(driver, f"{url}/#scalars&tagFilter=epoch_(accuracy%7Closs%7Clearning_rate)&_smoothingWeight=0",
                       "epoch_learning_rate", out / "tensorboard_scalars.png", args.settle,
                       click=["Ignore outliers in chart scaling"], crop_to="tf-category-paginated-view")

        with tempfile.TemporaryDirectory(prefix="hparams-") as logs:
            write_sweep_logs(storage, logs)
            expected = log_runs(logs)
            with served([*tensorboard, logs], "/data/runs", lambda runs: expected <= set(runs)) as url:
                screenshot(driver, f"{url}/#hparams", "validation accuracy", out / "tensorboard_hparams.png",
                           args.settle, click=["PARALLEL COORDINATES VIEW"])

        with served([installed_command("optuna-dashboard"), args.storage], "/api/studies",
                    lambda studies: studies["study_summaries"]) as url:
            studies = {study["study_name"]: study["study_id"] for study in get_json(f"{url}/api/studies")["study_summaries"]}
            name = args.study or max(studies, key=lambda n: len(get_json(f"{url}/api/studies/{studies[n]}")["trials"]))
            if name not in studies:
                sys.exit(f"dashboards_screenshots.py: no study {name!r} in {args.storage}; it has {', '.join(studies)}")
            screenshot(driver, f"{url}/dashboard/studies/{studies[name]}", "History", out / "optuna_dashboard.png",
                       args.settle)
    finally:
        driver.quit()


if __name__ == "__main__":
    try:
        main()
    except ServerDidNotStart as error:
        sys.exit(f"dashboards_screenshots.py: {error}")
