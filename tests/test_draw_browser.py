"""The draw page in a real browser: Debian's Chromium driven by Selenium, strokes by mouse and by touch.

Skipped, saying why, where selenium or Debian's chromium and chromium-driver are missing;
.ci/run installs them.
"""

import numpy as np
import pytest

from digits import draw_page
from harness import browser
from digits.config import RunConfig

PATHS, MISSING = browser.find_chromium()
pytestmark = [pytest.mark.slow, pytest.mark.skipif(PATHS is None, reason=f"no real browser: {MISSING}")]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from digits.model import build_cnn

    folder = tmp_path_factory.mktemp("draw")
    for run, filters in (("cnn", (4, 4)), ("own-digits", (4, 8))):
        (folder / "runs" / run).mkdir(parents=True)
        build_cnn(RunConfig(filters=filters)).save(folder / "runs" / run / "model.keras")
    app = draw_page.create_app(draw_page.Reader(folder / "runs" / "cnn"), folder / "data", port=0)
    with browser.ServerThread(app) as server:
        driver = browser.start_chromium(PATHS)
        try:
            browser.open_page(driver, server.url)
            yield driver, server.url, folder
        finally:
            driver.quit()


def test_draw_by_mouse_and_touch_read_and_save(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, folder = page
    canvas = driver.find_element(By.ID, "pad")
    for pointer, strokes in (("mouse", browser.DIGIT_STROKES[7][:1]), ("touch", [[(0.3, 0.5), (0.7, 0.5)]])):
        before = browser.readings(driver)
        browser.draw_digit(driver, canvas, strokes, pointer)
        browser.wait_for_reading(driver, before)
        assert driver.execute_script("return document.body.dataset.lastPointer") == pointer

    bars = browser.bar_values(driver)
    assert len(bars) == 10 and sum(bars) == pytest.approx(1, abs=0.01)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#bars li.top")) == 1
    pixels = np.array(driver.execute_script(
        "const c = document.getElementById('preview').getContext('2d');"
        "return Array.from(c.getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0);")).reshape(28, 28)
    rows, columns = np.indices(pixels.shape)
    centre = (pixels * rows).sum() / pixels.sum(), (pixels * columns).sum() / pixels.sum()
    assert centre == pytest.approx((13.5, 13.5), abs=1.0)  # centred by mass, as MNIST's digits

    driver.find_element(By.TAG_NAME, "body").send_keys("7")
    driver.find_element(By.TAG_NAME, "body").send_keys("\n")
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "status").text.startswith("Saved"))
    saved = list((folder / "data" / "train" / "7").glob("*.png"))
    assert len(saved) == 1
    assert driver.find_elements(By.CSS_SELECTOR, "#count-train td")[7].text == "1"
    assert len(driver.find_elements(By.CSS_SELECTOR, "#strip li")) == 1
    driver.save_screenshot(str(folder / "draw-page.png"))

    assert browser.console_errors(driver) == []
    requested = browser.page_requests(driver)
    assert requested and all(address.startswith(url) for address in requested), requested


def canvas_pixels(driver, canvas_id):
    """A 28x28 canvas's pixels as (28, 28, 3) RGB."""
    values = driver.execute_script(
        f"return Array.from(document.getElementById('{canvas_id}').getContext('2d').getImageData(0, 0, 28, 28).data);")
    return np.array(values).reshape(28, 28, 4)[..., :3]


def drawn_as_the_figures_draw_it(pixels, heat):
    """The colours plots.draw_heat_map gives a map over its digit: ink in mid grey on white, RdBu_r over it,
    each pixel as opaque as its evidence is strong."""
    import matplotlib

    from digits.plots import HEAT_MAP_COLOURS

    grey = (255 - np.array(pixels) / 2)[..., None]
    heat = np.array(heat)
    colours = 255 * matplotlib.colormaps[HEAT_MAP_COLOURS]((heat + 1) / 2)[..., :3]
    opacity = 0.9 * np.clip(np.abs(heat), 0, 1)[..., None]
    return grey + opacity * (colours - grey)


def test_a_drawing_shows_where_the_evidence_lies_and_the_runner_ups_on_demand(page):
    from selenium.webdriver.common.by import By

    driver, _, folder = page
    driver.find_element(By.ID, "clear").click()
    before = browser.heat_maps(driver)
    browser.draw_digit(driver, driver.find_element(By.ID, "pad"), browser.DIGIT_STROKES[4])
    browser.wait_for_heat_map(driver, before)
    shown = driver.execute_script("return evidence")
    read = int(np.argmax(browser.bar_values(driver)))
    assert shown["digit"] == shown["read"] == read
    caption = driver.find_element(By.ID, "heat-caption").text
    assert caption.startswith(f"Evidence for {read}, the digit read (") and "red pixels speak for" in caption
    painted = canvas_pixels(driver, "heat-map")
    np.testing.assert_allclose(painted, drawn_as_the_figures_draw_it(shown["pixels"], shown["heat_map"]), atol=6)
    assert (np.abs(painted[..., 0] - painted[..., 2]) > 60).sum() > 10  # coloured where the evidence is strong
    assert driver.find_element(By.CSS_SELECTOR, "#bars li.explained").get_attribute("data-digit") == str(read)
    driver.save_screenshot(str(folder / "draw-page-heat-map.png"))

    runner_up = driver.find_element(By.ID, "heat-other")
    assert runner_up.text == f"Evidence for the runner-up, {shown['runner_up']}"
    before = browser.heat_maps(driver)
    runner_up.click()
    browser.wait_for_heat_map(driver, before)
    other = driver.execute_script("return evidence")
    assert other["digit"] == shown["runner_up"] and other["heat_map"] != shown["heat_map"]
    assert driver.find_element(By.ID, "heat-caption").text.startswith(f"Evidence for {shown['runner_up']}, the runner-up (")
    assert driver.find_element(By.CSS_SELECTOR, "#bars li.explained").get_attribute("data-digit") == str(shown["runner_up"])
    assert driver.find_element(By.ID, "heat-other").text == f"Back to the digit read, {read}"
    driver.save_screenshot(str(folder / "draw-page-runner-up.png"))

    before = browser.heat_maps(driver)
    other_digit = next(digit for digit in range(10) if digit not in (shown["read"], shown["runner_up"]))
    driver.find_element(By.CSS_SELECTOR, f"#bars li[data-digit='{other_digit}']").click()  # any digit's bar
    browser.wait_for_heat_map(driver, before)
    assert driver.execute_script("return evidence.digit") == other_digit
    assert driver.find_element(By.ID, "heat-caption").text.startswith(f"Evidence for {other_digit} (")

    driver.find_element(By.ID, "clear").click()
    assert driver.find_element(By.ID, "heat-caption").text == "Lift the pen to see which pixels made the digit."
    assert not driver.find_element(By.ID, "heat-other").is_displayed()
    assert browser.console_errors(driver) == []


def test_the_run_list_switches_the_model(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    driver, url, folder = page
    runs = Select(driver.find_element(By.ID, "run"))
    assert [option.text for option in runs.options] == ["cnn", "own-digits"]
    assert runs.first_selected_option.text == "cnn"
    runs.select_by_visible_text("own-digits")
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "status").text == "Switched to own-digits.")
    assert driver.find_element(By.ID, "model-name").text == str(folder / "runs" / "own-digits" / "model.keras")
    assert Select(driver.find_element(By.ID, "run")).first_selected_option.text == "own-digits"
    assert driver.find_element(By.ID, "model-calibration").text == "uncalibrated: its run has no temperature"
    assert browser.console_errors(driver) == []


def test_with_several_models_the_page_names_them_and_hides_the_run_list(page, tiny_runs):
    from selenium.webdriver.common.by import By

    driver, _, folder = page
    reader = draw_page.Reader([tiny_runs["plain"], tiny_runs["calibrated"]])
    with browser.ServerThread(draw_page.create_app(reader, folder / "ensemble-data", port=0)) as server:
        browser.open_page(driver, server.url)
        assert driver.find_element(By.ID, "model-name").text == reader.name
        calibration = driver.find_element(By.ID, "model-calibration").text
        temperature = reader.models[1]["temperature"]
        assert calibration == f"ensemble of 2: their calibrated probabilities averaged (uncalibrated, T = {temperature:.2f})"
        assert not driver.find_element(By.ID, "run-choice").is_displayed()
        before = browser.readings(driver)
        browser.draw_digit(driver, driver.find_element(By.ID, "pad"), browser.DIGIT_STROKES[1])
        browser.wait_for_reading(driver, before)
        assert sum(browser.bar_values(driver)) == pytest.approx(1, abs=0.01)
        assert browser.console_errors(driver) == []


SCRIBBLE = [[(0.0, 0.0), (1.0, 0.15), (0.0, 0.35), (1.0, 0.55), (0.0, 0.75), (1.0, 1.0)]]  # a zigzag: no digit


def test_a_drawing_that_does_not_look_like_a_digit_gets_a_notice_beside_its_probabilities(page, tiny_runs):
    """A tiny model's verdicts say little, so the run's kept detector is given thresholds that decide them:
    above every digit score (nothing looks like a digit), then at or below every one (everything does)."""
    import shutil

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from digits import not_a_digit

    driver, _, folder = page
    run = shutil.copytree(tiny_runs["calibrated"], folder / "verdict-runs" / "calibrated")
    reader = draw_page.Reader(run)  # fits the run's detector and keeps it in the run folder
    kept = run / not_a_digit.DETECTOR_FILE
    detector = not_a_digit.load_detector(kept)
    detector.threshold = float("inf")  # nothing passes
    not_a_digit.save_detector(detector, kept)
    reader.reload()
    with browser.ServerThread(draw_page.create_app(reader, folder / "verdict-data", port=0)) as server:
        browser.open_page(driver, server.url)
        notice = driver.find_element(By.ID, "not-a-digit")
        assert not notice.is_displayed()
        before = browser.readings(driver)
        browser.draw_digit(driver, driver.find_element(By.ID, "pad"), SCRIBBLE)
        browser.wait_for_reading(driver, before)
        WebDriverWait(driver, 10).until(lambda d: notice.is_displayed())
        reading = driver.execute_script("return lastReading")
        assert reading["looks_like_a_digit"] is False
        assert notice.text.startswith(f"This does not look like a digit (digit score {reading['digit_score']:.3f}).")
        assert sum(browser.bar_values(driver)) == pytest.approx(1, abs=0.01)  # the probabilities are still shown
        assert len(driver.find_elements(By.CSS_SELECTOR, "#bars li.top")) == 1
        driver.save_screenshot(str(folder / "draw-page-not-a-digit.png"))

        detector.threshold = float("-inf")  # everything passes
        not_a_digit.save_detector(detector, kept)
        before = browser.readings(driver)
        driver.find_element(By.ID, "reload").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "status").text == "Model reloaded.")
        browser.wait_for_reading(driver, before)
        assert driver.execute_script("return lastReading.looks_like_a_digit") is True
        assert not notice.is_displayed()
        assert browser.console_errors(driver) == []


def test_number_mode_reads_a_written_number_digit_by_digit_with_boxes_and_views(page, reading_run):
    """A small network that really reads (conftest's reading_run) reads "2026" written on the wide pad, from the
    page's stroke templates: the number, each digit's 28x28 view and reading, and its box over the writing."""
    import shutil

    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver, _, folder = page
    # Its model alone: without its run.json the page fits no not-a-digit detector (minutes), which numbers skip.
    model = folder / "number-runs" / "reading" / "model.keras"
    model.parent.mkdir(parents=True)
    shutil.copy(reading_run / "model.keras", model)
    with browser.ServerThread(draw_page.create_app(draw_page.Reader(model), folder / "number-data", port=0)) as server:
        browser.open_page(driver, server.url)
        driver.find_element(By.ID, "mode-number").click()
        assert driver.execute_script("return document.body.dataset.mode") == "number"
        assert driver.find_element(By.ID, "title").text == "Draw a number"
        assert driver.find_element(By.ID, "number").is_displayed()
        for hidden in (".save", ".seen", ".read", ".strip"):  # saving and the one digit's panels are digit mode's
            assert not driver.find_element(By.CSS_SELECTOR, hidden).is_displayed()
        canvas = driver.find_element(By.ID, "pad")
        assert (canvas.size["width"], canvas.size["height"]) == browser.NUMBER_PAD

        before = browser.number_readings(driver)
        browser.draw_number(driver, canvas, "2026")
        browser.wait_for_number(driver, before)
        assert driver.find_element(By.ID, "number-read").text == "2026"
        views = driver.find_elements(By.CSS_SELECTOR, "#number-digits li")
        assert [view.find_element(By.CSS_SELECTOR, ".digit").text for view in views] == list("2026")
        read = driver.execute_script("return lastNumber")
        slot = browser.NUMBER_PAD[0] / 4
        for index, found in enumerate(read["digits"]):
            left, top, right, bottom = found["box"]
            assert index * slot < left < right < (index + 1) * slot  # each digit's box in the slot it was drawn in
            painted = driver.execute_script(
                "const c = document.querySelectorAll('#number-digits canvas')[arguments[0]].getContext('2d');"
                "return Array.from(c.getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0);", index)
            assert painted == np.array(found["pixels"]).ravel().tolist()  # what the network received
            assert views[index].find_element(By.CSS_SELECTOR, ".value").text.endswith(
                f"{100 * found['probability']:.1f}%")
            edge = driver.execute_script(  # the box drawn over the writing, on its overlay canvas
                "const r = window.devicePixelRatio || 1, c = document.getElementById('boxes').getContext('2d');"
                "return c.getImageData(Math.round(arguments[0] * r), Math.round(arguments[1] * r), 1, 1).data[3];",
                left - 4, (top + bottom) / 2)
            assert edge > 0
        driver.save_screenshot(str(folder / "draw-page-number.png"))

        before = browser.number_readings(driver)
        driver.find_element(By.TAG_NAME, "body").send_keys("z")  # undo the 6, one stroke
        browser.wait_for_number(driver, before)
        assert driver.find_element(By.ID, "number-read").text == "202"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#number-digits li")) == 3
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)  # clear
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "number-read").text == "–")
        assert driver.find_elements(By.CSS_SELECTOR, "#number-digits li") == []

        driver.find_element(By.ID, "mode-digit").click()  # back to one digit: its own pad and panels
        assert (canvas.size["width"], canvas.size["height"]) == (browser.DIGIT_PAD, browser.DIGIT_PAD)
        assert driver.find_element(By.CSS_SELECTOR, ".save").is_displayed()
        assert not driver.find_element(By.ID, "number").is_displayed()
        assert browser.console_errors(driver) == []
        requested = browser.page_requests(driver)
        assert all(address.startswith(server.url) for address in requested), requested
