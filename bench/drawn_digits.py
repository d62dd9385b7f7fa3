"""Digits drawn on the draw page by replayed strokes: how many the network reads, before and after
training on twenty of each.

    python bench/drawn_digits.py --model models/cnn

Serves `add_own_digits.py draw`'s page on a free loopback port and drives it in Debian's
Chromium (harness.browser): each digit 0-9 is drawn --per-digit times from stroke templates
(a circle for 0, a vertical line for 1, a bar and a diagonal for 7, ...), jittered in size,
proportions, position, slant, wobble and stroke width (8-28 px), a third by touch, the rest
by mouse. The page's reading of each
is recorded, and each is saved through the page: the first --train of every digit as
training data, the rest as validation. Then `add_own_digits.py --model ...` fine-tunes the
model on MNIST plus the training drawings and prints its accuracy on the validation
drawings before and after. A screenshot of the page goes to --screenshot.

Run `pip install -e .` once first: the benchmarks import the installed `digits` package.
"""

import argparse
import math
from pathlib import Path
import random
import subprocess
import sys
import tempfile

from PIL import Image

from digits import draw_page
from digits.run_folder import DEFAULT_RUN
from harness import browser

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_RUN, help="the model to read with and fine-tune (default: %(default)s)")
    parser.add_argument("--data", help="MNIST for the fine-tuning, as add_own_digits.py --data takes it (default: "
                        "the data of --model's run, else $MNIST_DATA, else the MNIST shipped in data/mnist/)")
    parser.add_argument("--per-digit", type=int, default=25, help="drawings of each digit (default: %(default)s)")
    parser.add_argument("--train", type=int, default=20, help="of those, how many go to training (default: %(default)s)")
    parser.add_argument("--fine-tune-epochs", type=int, default=3, help="(default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=20, help="copies of each drawing in training (default: %(default)s)")
    parser.add_argument("--data-dir", help="where the drawings go (default: a temporary folder)")
    parser.add_argument("--screenshot", default="figures/draw_page.png", help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def jittered(strokes, chance):
    """A person's variation on a template: size, squash, position, slant and a wobbly hand."""
    scale, squash = chance.uniform(0.6, 1.1), chance.uniform(0.7, 1.25)
    slant = math.radians(chance.uniform(-18, 18))
    shift_x, shift_y = chance.uniform(-0.1, 0.1), chance.uniform(-0.1, 0.1)
    result = []
    for stroke in strokes:
        points = []
        for x, y in stroke:
            x, y = (x - 0.5) * squash, y - 0.5
            x, y = x * math.cos(slant) - y * math.sin(slant), x * math.sin(slant) + y * math.cos(slant)
            points.append((0.5 + scale * x + shift_x + chance.gauss(0, 0.02),
                           0.5 + scale * y + shift_y + chance.gauss(0, 0.02)))
        result.append(points)
    return result


def draw_and_save(driver, canvas, strokes, label, split, pointer, width):
    """Draw one digit, wait for the page's reading, save it with its label; the digit the page read."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("const w = document.getElementById('width'); w.value = arguments[0];"
                          "w.dispatchEvent(new Event('input'));", width)
    driver.find_element(By.CSS_SELECTOR, f"input[name=split][value={split}]").click()
    before = browser.readings(driver)
    browser.draw_digit(driver, canvas, strokes, pointer)
    browser.wait_for_reading(driver, before)
    bars = browser.bar_values(driver)
    read = max(range(10), key=bars.__getitem__)
    saved_before = len(driver.find_elements(By.CSS_SELECTOR, "#strip li"))
    driver.find_element(By.CSS_SELECTOR, f"#labels button[data-label='{label}']").click()
    driver.find_element(By.ID, "save").click()
    WebDriverWait(driver, 20).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#strip li")) > saved_before)
    return read


def main():
    args = parse_args()
    paths, missing = browser.find_chromium()
    if paths is None:
        sys.exit(f"drawn_digits.py: {missing}")
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="drawn-digits-"))
    chance = random.Random(args.seed)
    app = draw_page.create_app(draw_page.Reader(args.model), data_dir, port=0)
    reads = {"train": [], "validation": []}
    with browser.ServerThread(app) as server:
        driver = browser.start_chromium(paths)
        try:
            from selenium.webdriver.common.by import By

            browser.open_page(driver, server.url)
            canvas = driver.find_element(By.ID, "pad")
            for round_number in range(args.per_digit):
                split = "train" if round_number < args.train else "validation"
                for digit, template in browser.DIGIT_STROKES.items():
                    pointer = "touch" if (round_number + digit) % 3 == 0 else "mouse"
                    read = draw_and_save(driver, canvas, jittered(template, chance), digit, split, pointer,
                                         chance.randint(8, 28))
                    reads[split].append((digit, read))
                print(f"round {round_number + 1}/{args.per_digit}: {sum(d == r for d, r in reads[split][-10:])}/10 read "
                      f"right", flush=True)
            before = browser.readings(driver)
            browser.draw_digit(driver, canvas, jittered(browser.DIGIT_STROKES[4], chance))
            browser.wait_for_reading(driver, before)
            Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.screenshot)
        finally:
            driver.quit()
    with Image.open(args.screenshot) as shot:  # a small copy for the documentation
        shot.convert("RGB").resize((shot.width * 3 // 4, shot.height * 3 // 4), Image.Resampling.LANCZOS).save(args.screenshot)

    drawn = reads["train"] + reads["validation"]
    print(f"\nDrawn and saved in {data_dir}: {len(reads['train'])} for training, {len(reads['validation'])} for validation")
    print(f"Read right by {args.model} while drawing: {sum(d == r for d, r in drawn)}/{len(drawn)}")
    for digit in range(10):
        mine = [r for d, r in drawn if d == digit]
        print(f"  {digit}: {sum(r == digit for r in mine)}/{len(mine)}", end="")
    print("\n\nFine-tuning on MNIST plus the training drawings (add_own_digits.py):", flush=True)
    command = [sys.executable, str(ROOT / "add_own_digits.py"), "--model", args.model,
               "--train-dir", str(data_dir / "train"), "--validation-dir", str(data_dir / "validation"),
               "--fine-tune-epochs", str(args.fine_tune_epochs), "--repeat", str(args.repeat),
               "--out", str(data_dir / "model"), "--figures", str(data_dir / "figures")]
    if args.data:
        command += ["--data", args.data]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print("\n".join(line for line in output.splitlines() if line.startswith(("Before", "After", "train", "validation"))))
    print(f"Screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
