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
