"""The gallery page in a real browser: headless Chromium, driven by Selenium.

One browser for the whole module. Each test opens a generated gallery from the disk
(``file://``), does what a user does, and reads the browser's console: an error there
fails the test. Skipped, with the reason, where Chromium, chromedriver or Selenium is
missing; CI installs all three.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import nanobanana as nb
from nanobanana.testing import make_png

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromedriver"
    ),
]

HOSTILE = "<img src=x onerror=alert(1)>"
ANIMALS = ("cat", "owl", "fox", "yak", "eel")


def item_line(i: int) -> dict[str, Any]:
    """Item ``i`` of a test gallery: every tenth from 3 failed, from 7 skipped."""
    animal = ANIMALS[i % len(ANIMALS)]
    prompt = f"a {animal} number {i} in a garden"
    if i in (11, 22, 45):
        prompt += " under a zeppelin"
    if i == 5:
        prompt = HOSTILE
    line: dict[str, Any] = {
        "index": i,
        "key": f"key-{i}",
        "status": "ok",
        "prompt": prompt,
        "attempts": 1,
        "elapsed": 2.0,
        "id": f"item-{i}",
        "vars": {"animal": animal},
        "model": "google/nano-banana",
        "parameters": {"aspect_ratio": "4:3"},
    }
    if i % 50 == 0:
        line["tag"] = "hero"
    if i % 10 == 3:
        line |= {"status": "failed", "error_type": "ServerError", "error": f"500 {HOSTILE}"}
    elif i % 10 == 7:
        line |= {"status": "skipped", "skip_reason": "budget"}
    else:
        names = [f"{i % 20:06d}.png"]
        if i % 25 == 1:
            names.append(f"{i % 20:06d}-2.png")
        line |= {"paths": names, "usage": {"usd_spent": 0.039, "credits_used": 81900}}
    return line


def make_gallery(folder: Path, count: int) -> Path:
    """A batch folder of ``count`` items (sharing 40 small images), and its gallery."""
    folder.mkdir()
    for n in range(20):
        for suffix in ("", "-2"):
            png = make_png(48, 36, f"{n}{suffix}".encode())
            (folder / f"{n:06d}{suffix}.png").write_bytes(png)
    lines = (json.dumps(item_line(i)) + "\n" for i in range(count))
    (folder / "manifest.jsonl").write_text("".join(lines), encoding="utf-8")
    return nb.write_gallery(folder)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def gallery_200(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gallery(tmp_path_factory.mktemp("gallery") / "out", 200)


@pytest.fixture
def page(browser: Any, gallery_200: Path) -> Iterator[Any]:
    """The 200-item gallery, freshly opened; its console must stay free of errors."""
    browser.get(gallery_200.as_uri())
    yield browser
    assert console_errors(browser) == []


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def next_frames(driver: Any) -> None:
    """Wait until the page has drawn what a scroll or a key asked for."""
    driver.execute_async_script(
        "const done = arguments[0];"
        "requestAnimationFrame(() => requestAnimationFrame(() => done()));"
    )


def cards_on_screen(driver: Any) -> list[int]:
    next_frames(driver)
    found = driver.execute_script(
        "return [...document.querySelectorAll('.card')].map(c => +c.dataset.index)"
    )
    return sorted(found)


def every_card(driver: Any) -> list[int]:
    """The items of every card the page shows, scrolling from the top to the bottom."""
    seen: set[int] = set()
    driver.execute_script("window.scrollTo(0, 0)")
    while True:
        seen.update(cards_on_screen(driver))
        at_bottom = driver.execute_script(
            "const before = window.scrollY; window.scrollBy(0, window.innerHeight * 0.8);"
            "return window.scrollY === before;"
        )
        if at_bottom:
            return sorted(seen)


def shown_text(driver: Any) -> str:
    text: str = driver.find_element(By.ID, "shown").text
    return text


def search(driver: Any, text: str) -> None:
    box = driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(text)


def test_every_item_gets_a_card_and_the_summary_adds_them_up(page: Any, tmp_path: Path) -> None:
    assert page.title == "out · nanobanana gallery"
    assert shown_text(page) == "showing 200 of 200"
    assert every_card(page) == list(range(200))
    summary = page.find_element(By.ID, "summary").text
    for part in ("200 items", "160 ok", "20 failed", "20 skipped", "168 images", "$6.24 spent"):
        assert part in summary
    assert "summed over the items" in summary
    page.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "gallery.png"
    assert page.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_a_card_shows_what_made_the_item(page: Any) -> None:
    card = page.find_element(By.CSS_SELECTOR, '.card[data-index="13"]')
    text = card.text

    assert "FAILED" in text
    assert f"ServerError: 500 {HOSTILE}" in text
    assert "id item-13" in text
    assert "google/nano-banana" in text
    assert "aspect_ratio=4:3" in text
    assert "animal=yak" in text
    first = page.find_element(By.CSS_SELECTOR, '.card[data-index="0"]').text
    assert "hero" in first
    assert "$0.0390, 81,900 credits" in first
    assert "2.00 s" in first


def test_search_narrows_the_cards_as_you_type(page: Any) -> None:
    search(page, "zeppelin")
    assert cards_on_screen(page) == [11, 22, 45]
    assert shown_text(page) == "showing 3 of 200"

    search(page, "hero")  # a tag
    assert cards_on_screen(page) == [0, 50, 100, 150]

    search(page, "item-199")  # an id
    assert cards_on_screen(page) == [199]

    search(page, "fox zeppelin")  # every word must match: fox is items 2, 7, 12...
    assert cards_on_screen(page) == [22]

    search(page, "animal=owl 101")  # a variable, and a number in the prompt
    assert cards_on_screen(page) == [101]

    search(page, "no such thing")
    assert cards_on_screen(page) == []
    assert page.find_element(By.ID, "empty").text == "No item matches."


def test_the_status_filter_shows_one_status(page: Any) -> None:
    page.find_element(By.CSS_SELECTOR, '#filters button[data-status="failed"]').click()

    assert shown_text(page) == "showing 20 of 200"
    assert every_card(page) == list(range(3, 200, 10))

    page.find_element(By.CSS_SELECTOR, '#filters button[data-status="skipped"]').click()
    search(page, "17")  # the filter and the search together
    assert cards_on_screen(page) == [17, 117, 177]

    page.find_element(By.CSS_SELECTOR, '#filters button[data-status="all"]').click()
    assert cards_on_screen(page) == [17, 117, *range(170, 180)]
    assert shown_text(page) == "showing 12 of 200"


def test_a_click_on_an_image_opens_it_full_size_with_arrow_keys(page: Any) -> None:
    lightbox = page.find_element(By.ID, "lightbox")
    assert not lightbox.is_displayed()

    page.find_element(By.CSS_SELECTOR, '.card[data-index="0"] img').click()

    assert lightbox.is_displayed()
    image = page.find_element(By.ID, "lb-img")
    caption = page.find_element(By.ID, "lb-caption")
    assert image.get_attribute("src").endswith("/000000.png")
    assert caption.text.startswith("a cat number 0 in a garden")
    assert "1 / 168" in caption.text
    assert page.execute_script("return arguments[0].naturalWidth", image) == 48

    page.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert image.get_attribute("src").endswith("/000001.png")
    page.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)  # item 1 has two images
    assert image.get_attribute("src").endswith("/000001-2.png")
    page.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    page.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    page.switch_to.active_element.send_keys(Keys.ARROW_LEFT)  # from the first to the last
    assert "168 / 168" in caption.text

    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not lightbox.is_displayed()

    # The keyboard alone: the focus is back on the thumbnail, and Enter opens it again.
    thumbnail = page.switch_to.active_element
    assert thumbnail.get_attribute("aria-label") == "show full size"
    thumbnail.send_keys(Keys.ENTER)
    assert lightbox.is_displayed()
    assert image.get_attribute("src").endswith("/000000.png")
    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not lightbox.is_displayed()


def test_a_prompt_of_markup_shows_as_text(page: Any) -> None:
    card = page.find_element(By.CSS_SELECTOR, '.card[data-index="5"]')

    assert card.find_element(By.CLASS_NAME, "prompt").text == HOSTILE
    assert page.find_elements(By.CSS_SELECTOR, 'img[src="x"]') == []
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert  # noqa: B018 - no alert(1) ran


def test_an_image_file_gone_from_the_folder_is_named_on_its_card(
    browser: Any, tmp_path: Path
) -> None:
    gallery = make_gallery(tmp_path / "out", 3)
    (tmp_path / "out" / "000001.png").unlink()

    browser.get(gallery.as_uri())
    next_frames(browser)

    card = browser.find_element(By.CSS_SELECTOR, '.card[data-index="1"]')
    assert "image file not found: 000001.png" in card.text
    errors = console_errors(browser)
    assert len(errors) == 1
    assert "000001.png" in errors[0]  # the browser's own line about the missing file


def test_ten_thousand_items_open_and_only_what_is_on_screen_is_drawn(
    browser: Any, tmp_path: Path
) -> None:
    gallery = make_gallery(tmp_path / "big", 10_000)

    browser.get(gallery.as_uri())

    assert "10,000 items" in browser.find_element(By.ID, "summary").text
    drawn = cards_on_screen(browser)
    assert drawn[0] == 0
    assert len(drawn) < 60  # a few rows, not ten thousand cards
    browser.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    assert cards_on_screen(browser)[-1] == 9_999
    search(browser, "number 9998")
    assert cards_on_screen(browser) == [9_998]
    assert console_errors(browser) == []
