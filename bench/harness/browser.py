"""Driving the draw page in a real browser: Debian's Chromium through Selenium, and digits drawn
by replaying strokes. Used by the browser test and bench/drawn_digits.py; needs `selenium`
and Debian's `chromium` and `chromium-driver` packages, never a download.
"""

import importlib.util
import math
import shutil
import threading

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
DIGIT_PAD, NUMBER_PAD = 280, (840, 280)  # the page's pads in CSS pixels (draw.js's PADS)

# Each digit as strokes in a unit box (x right, y down), the way a person draws it with a mouse.
DIGIT_STROKES = {
    0: [[(0.5 + 0.3 * math.sin(2 * math.pi * t / 24), 0.5 - 0.4 * math.cos(2 * math.pi * t / 24)) for t in range(25)]],
    1: [[(0.42, 0.22), (0.52, 0.1), (0.52, 0.5), (0.52, 0.9)]],
    2: [[(0.25, 0.3), (0.35, 0.14), (0.55, 0.1), (0.72, 0.2), (0.74, 0.36), (0.6, 0.55), (0.25, 0.88),
         (0.5, 0.88), (0.8, 0.88)]],
    3: [[(0.25, 0.15), (0.5, 0.08), (0.72, 0.2), (0.68, 0.38), (0.45, 0.48), (0.7, 0.58), (0.75, 0.76),
         (0.55, 0.9), (0.25, 0.85)]],
    4: [[(0.6, 0.1), (0.4, 0.4), (0.2, 0.62), (0.5, 0.62), (0.82, 0.62)], [(0.62, 0.35), (0.62, 0.92)]],
    5: [[(0.75, 0.12), (0.32, 0.12), (0.28, 0.45), (0.5, 0.4), (0.7, 0.5), (0.74, 0.7), (0.6, 0.88),
         (0.4, 0.9), (0.25, 0.8)]],
    6: [[(0.68, 0.1), (0.45, 0.3), (0.3, 0.55), (0.32, 0.8), (0.5, 0.92), (0.7, 0.8), (0.7, 0.62),
         (0.5, 0.52), (0.32, 0.62)]],
    7: [[(0.2, 0.14), (0.5, 0.14), (0.8, 0.14), (0.62, 0.5), (0.45, 0.9)]],
    8: [[(0.62, 0.2), (0.5, 0.1), (0.34, 0.18), (0.36, 0.36), (0.5, 0.48), (0.68, 0.62), (0.66, 0.84),
         (0.5, 0.92), (0.32, 0.84), (0.32, 0.64), (0.5, 0.48), (0.64, 0.36), (0.64, 0.22)]],
    9: [[(0.68, 0.3), (0.52, 0.12), (0.34, 0.2), (0.32, 0.4), (0.5, 0.5), (0.68, 0.38), (0.68, 0.2),
         (0.68, 0.6), (0.66, 0.92)]],
}


def find_chromium():
    """(chromium, chromedriver) paths, or None with the reason when they or selenium are missing."""
    if importlib.util.find_spec("selenium") is None:
        return None, "selenium is not installed (pip install selenium)"
    browser = next((path for path in CHROMIUM if shutil.which(path)), None)
    driver = next((path for path in CHROMEDRIVER if shutil.which(path)), None)
    if not browser or not driver:
        return None, "Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    return (browser, driver), None


def start_chromium(paths, width=1200, height=900):
    """Headless Chromium, offline: no background networking, no downloads, console logged."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-default-apps", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver))


class ServerThread:
    """The draw app served on a free loopback port in a background thread."""

    def __init__(self, app):
        from digits.draw_page import listening_server, quiet_request_log

        quiet_request_log()
        self.server = listening_server(app, "127.0.0.1", 0)  # the server `add_own_digits.py draw` runs
        self.url = f"http://127.0.0.1:{self.server.port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def open_page(driver, url, timeout=30):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))


def draw_stroke(driver, canvas, points, pointer="mouse", size=DIGIT_PAD):
    """Replay one stroke (points in the canvas's CSS pixels) with a mouse or a finger; size: the canvas's side,
    or its (width, height)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    width, height = size if isinstance(size, tuple) else (size, size)
    actions = ActionBuilder(driver, mouse=PointerInput(pointer, pointer), duration=15)
    # W3C actions measure offsets from the element's centre.
    first, *rest = [(round(x - width / 2), round(y - height / 2)) for x, y in points]
    actions.pointer_action.move_to(canvas, *first).pointer_down()
    for x, y in rest:
        actions.pointer_action.move_to(canvas, x, y)
    actions.pointer_action.pointer_up()
    actions.perform()


def draw_digit(driver, canvas, strokes, pointer="mouse", size=DIGIT_PAD, margin=0.12, box=None):
    """Draw strokes given in a unit box, scaled with a margin into the square canvas, or into the square
    box (left, top, side) of a canvas of `size` (its side, or its (width, height))."""
    left, top, side = box or (0, 0, size)
    span = side * (1 - 2 * margin)
    for stroke in strokes:
        points = [(left + side * margin + span * x, top + side * margin + span * y) for x, y in stroke]
        draw_stroke(driver, canvas, densified(points), pointer, size)


def draw_number(driver, canvas, number, pointer="mouse", size=NUMBER_PAD, margin=0.12):
    """Write a number, e.g. "2026", on the wide canvas: each digit's DIGIT_STROKES in a square slot of its own,
    side by side, so that the digits stand apart as a person spaces them."""
    width, height = size
    slot = width / len(number)
    side = min(slot, height)
    for index, digit in enumerate(number):
        box = (index * slot + (slot - side) / 2, (height - side) / 2, side)
        draw_digit(driver, canvas, DIGIT_STROKES[int(digit)], pointer, size, margin, box)


def densified(points, step=6.0):
    """Points every `step` pixels along the polyline, as a hand moving the pointer would give."""
    result = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        count = max(1, int(math.hypot(x1 - x0, y1 - y0) // step))
        result += [(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count) for i in range(1, count + 1)]
    return result


def readings(driver, counter="readings"):
    """How many readings the page has shown: of digits, or of numbers with counter="numberReadings"."""
    return int(driver.execute_script(f"return Number(document.body.dataset.{counter} || 0)"))


def wait_for_reading(driver, before, timeout=30, counter="readings"):
    """Wait until the page has shown a reading after `before` and has nothing pending (see readings)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d):
        return readings(d, counter) > before and d.execute_script("return document.body.dataset.busy") == "false"

    WebDriverWait(driver, timeout).until(settled)
    return readings(driver, counter)


def number_readings(driver):
    return readings(driver, "numberReadings")


def wait_for_number(driver, before, timeout=30):
    """Wait until the page has shown a number read after `before` and has nothing pending."""
    return wait_for_reading(driver, before, timeout, "numberReadings")


def heat_maps(driver):
    return int(driver.execute_script("return Number(document.body.dataset.heatMaps || 0)"))


def wait_for_heat_map(driver, before, timeout=30):
    """Wait until the page has shown a heat map after `before` and asks for no other."""
    from selenium.webdriver.support.ui import WebDriverWait

    def settled(d):
        return heat_maps(d) > before and d.execute_script("return document.body.dataset.explaining") == "false"

    WebDriverWait(driver, timeout).until(settled)
    return heat_maps(driver)


def bar_values(driver):
    """The ten probabilities the bars show, as fractions."""
    return [float(text.rstrip("%")) / 100 for text in driver.execute_script(
        "return [...document.querySelectorAll('#bars .value')].map(e => e.textContent)")]


def page_requests(driver):
    """Every URL the page loaded or fetched (the Resource Timing entries)."""
    return driver.execute_script(
        "return [location.href, ...performance.getEntriesByType('resource').map(e => e.name)]")


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
