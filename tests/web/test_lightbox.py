"""The lightbox over the gallery grid, at desktop and phone widths: a photo opens over the
grid without leaving the page (the grid and its scroll position stay behind it), each photo
has its URL so Back closes it and Forward opens it again, the keys (Left, Right, Escape, I,
Z for a true 100 % from the full-size rendition, F for full screen), swipes on a touch
screen, and a deep link to a photo's URL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.samples import FIXTURES
from tests.web.conftest import Account, WebServer
from tests.web.pages import PAGE_TIMEOUT, Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
ARW = FIXTURES / "raw" / "sony_slt-a55v_truncated.arw"

Browser = Callable[..., WebDriver]
_BOX = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];"


def _signed_in_with_two_photos(
    web_server: WebServer, browser_factory: Browser, account: Account, width: int, height: int
) -> Pages:
    pages = Pages(browser_factory(width, height), web_server)
    pages.sign_in(account)
    for path in (NEF, ARW):  # one after the other: the Sony file is newer, so first
        pages.upload(path)
        pages.upload_row(path.name, "done")
    pages.ready_cards(2)
    assert pages.card_titles() == [ARW.name, NEF.name]
    return pages


def _ids(pages: Pages) -> dict[str, str]:
    listing = pages.http().get(pages.server.url("/api/assets/"), timeout=30).json()
    return {a["original_filename"]: a["id"] for a in listing["results"]}


def _state(pages: Pages) -> dict[str, Any]:
    """What the page shows, in one look: the lightbox, the URL, the grid behind it."""
    state: dict[str, Any] = pages.driver.execute_script(
        """
        const box = document.getElementById("lightbox");
        return {
          open: !!box && !box.hidden && box.getBoundingClientRect().height > 0,
          path: location.pathname + location.search,
          title: (document.getElementById("asset-title") || {}).textContent,
          scrollY: window.scrollY,
          cards: document.querySelectorAll("#gallery .card").length,
          sameDocument: window.__sameDocument === "yes",
        };
        """
    )
    return state


def _open_from_grid(pages: Pages, filename: str) -> None:
    link = pages.card(filename).find_element(By.CSS_SELECTOR, ".card-link")
    pages.driver.execute_script("arguments[0].click()", link)  # as is: no scrolling into view
    pages.wait(lambda: _state(pages)["open"], PAGE_TIMEOUT, "the lightbox")
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview")


def _swipe(pages: Pages, dx: int) -> None:
    """A one-finger swipe across the photo, as a touch screen sends it."""
    frame = pages.find("#viewer-frame")
    rect = pages.driver.execute_script(_BOX, frame)
    x, y = int(rect[0] + rect[2] / 2 - dx / 2), int(rect[1] + rect[3] / 2)
    touch: Any = PointerInput  # Selenium's action classes are untyped
    actions = ActionBuilder(pages.driver, mouse=touch(interaction.POINTER_TOUCH, "finger"))
    finger: Any = actions.pointer_action
    finger.move_to_location(x, y).pointer_down()
    for step in range(1, 6):
        finger.move_to_location(x + dx * step // 5, y)
    finger.pointer_up()
    actions.perform()


def test_lightbox_over_the_grid_at_desktop_width(
    web_server: WebServer, browser_factory: Browser, account: Account
) -> None:
    pages = _signed_in_with_two_photos(web_server, browser_factory, account, 1400, 560)
    ids = _ids(pages)
    driver = pages.driver
    driver.execute_script("window.__sameDocument = 'yes'; window.scrollTo(0, 200)")
    scrolled = driver.execute_script("return window.scrollY")
    assert scrolled > 0

    # Over the grid: same document, grid and scroll position behind, the photo's URL.
    _open_from_grid(pages, NEF.name)
    state = _state(pages)
    assert state["path"] == f"/assets/{ids[NEF.name]}/"
    assert state["title"] == NEF.name and state["sameDocument"] and state["cards"] == 2
    assert abs(state["scrollY"] - scrolled) < 2
    assert pages.metadata()["Name"] == NEF.name
    assert pages.find("#sequence-info").text == "2 of 2"

    # Left: the previous photo in the grid's order, in place; Back still closes at once.
    body = pages.find("body")
    body.send_keys(Keys.ARROW_LEFT)
    pages.wait(lambda: _state(pages)["title"] == ARW.name, PAGE_TIMEOUT, "the previous photo")
    assert _state(pages)["path"] == f"/assets/{ids[ARW.name]}/"
    pages.wait(lambda: pages.metadata().get("Name") == ARW.name, PAGE_TIMEOUT, "its metadata")
    body.send_keys(Keys.ARROW_LEFT)  # the first: nothing before it
    assert _state(pages)["title"] == ARW.name
    body.send_keys(Keys.ARROW_RIGHT)
    pages.wait(lambda: _state(pages)["title"] == NEF.name, PAGE_TIMEOUT, "the next photo")

    # I hides and shows the metadata.
    body.send_keys("i")
    assert not pages.find("#details").is_displayed()
    body.send_keys("i")
    assert pages.find("#details").is_displayed()

    # Z: a true 100 % from the full-size rendition; Escape leaves zoom, then the lightbox.
    detail = pages.http().get(pages.server.url(f"/api/assets/{ids[NEF.name]}/"), timeout=30)
    widths = {v["name"]: v["width"] for v in detail.json()["variants"]}
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview")
    body.send_keys("z")
    zoom = pages.find("#zoom-btn")
    pages.wait(lambda: zoom.get_attribute("aria-pressed") == "true", PAGE_TIMEOUT, "zoom")
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "full size")
    natural = driver.execute_script("return arguments[0].naturalWidth", pages.find("#viewer-img"))
    assert natural == widths["full"] > widths["preview"]
    body.send_keys(Keys.ESCAPE)
    assert zoom.get_attribute("aria-pressed") == "false" and _state(pages)["open"]
    body.send_keys(Keys.ESCAPE)
    pages.wait(lambda: not _state(pages)["open"], PAGE_TIMEOUT, "the lightbox to close")
    state = _state(pages)
    assert state["path"] == "/" and state["sameDocument"] and abs(state["scrollY"] - scrolled) < 2
    # Focus is back on the photo that was open.
    focused = driver.execute_script(
        "return document.activeElement.closest('.card')?.dataset.filename"
    )
    assert focused == NEF.name

    # Back closes it, Forward opens it again, without a page load.
    _open_from_grid(pages, ARW.name)
    driver.back()
    pages.wait(lambda: not _state(pages)["open"], PAGE_TIMEOUT, "Back to close the lightbox")
    assert _state(pages)["path"] == "/" and _state(pages)["sameDocument"]
    driver.forward()
    pages.wait(lambda: _state(pages)["open"], PAGE_TIMEOUT, "Forward to open it again")
    pages.wait(lambda: _state(pages)["title"] == ARW.name, PAGE_TIMEOUT, "the same photo")
    assert _state(pages)["path"] == f"/assets/{ids[ARW.name]}/" and _state(pages)["sameDocument"]

    # F: full screen (the browser's Fullscreen API), F again leaves it.
    body.send_keys("f")
    pages.wait(
        lambda: driver.execute_script("return document.fullscreenElement?.id") == "viewer-frame",
        PAGE_TIMEOUT,
        "full screen",
    )
    body.send_keys("f")
    pages.wait(
        lambda: driver.execute_script("return document.fullscreenElement") is None,
        PAGE_TIMEOUT,
        "full screen to end",
    )
    body.send_keys(Keys.ESCAPE)
    pages.wait(lambda: not _state(pages)["open"], PAGE_TIMEOUT, "the lightbox to close")

    # A deep link to a photo's URL opens that photo (the photo page, same viewer).
    pages.open(f"/assets/{ids[NEF.name]}/")
    pages.wait(lambda: pages.find("#asset-title").text == NEF.name, PAGE_TIMEOUT, "the photo")
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview")
    assert pages.metadata()["Name"] == NEF.name


def test_lightbox_on_a_phone_with_swipes(
    web_server: WebServer, browser_factory: Browser, account: Account
) -> None:
    pages = _signed_in_with_two_photos(web_server, browser_factory, account, 390, 844)
    pages.driver.execute_script("window.__sameDocument = 'yes'")
    _open_from_grid(pages, ARW.name)
    assert pages.no_horizontal_scroll()
    # Swipe left: the next photo; swipe right: back to the previous one.
    _swipe(pages, -200)
    pages.wait(lambda: _state(pages)["title"] == NEF.name, PAGE_TIMEOUT, "a swipe to the next")
    _swipe(pages, 200)
    pages.wait(lambda: _state(pages)["title"] == ARW.name, PAGE_TIMEOUT, "a swipe back")
    # A short, mostly vertical drag is no swipe.
    _swipe(pages, 20)
    assert _state(pages)["title"] == ARW.name and _state(pages)["sameDocument"]
    pages.find("#back-link").click()
    pages.wait(lambda: not _state(pages)["open"], PAGE_TIMEOUT, "the lightbox to close")
    assert _state(pages)["path"] == "/" and pages.no_horizontal_scroll()
