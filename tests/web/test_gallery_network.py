"""What the gallery fetches, checked in the browser: the originals of a selection downloaded
byte for byte, a srcset size not made yet falling back with no broken image on screen, and
the list polled with If-None-Match so an unchanged library is a 304 and the grid stays right.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from tests.samples import FIXTURES
from tests.web.conftest import Account, WebServer, running_web_server
from tests.web.pages import PAGE_TIMEOUT, PROCESS_TIMEOUT, Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
ARW = FIXTURES / "raw" / "sony_slt-a55v_truncated.arw"

Browser = Callable[..., WebDriver]

# Every image error in the grid, with whether the image was visible when it failed.
_WATCH_IMAGES = """
window.__imageErrors = [];
document.addEventListener("error", (event) => {
  const img = event.target;
  if (!(img instanceof HTMLImageElement) || !img.closest("#gallery")) return;
  window.__imageErrors.push({
    url: img.currentSrc || img.src,
    opacity: getComputedStyle(img).opacity,
    loaded: img.classList.contains("is-loaded"),
  });
}, true);
"""
# Every fetch the page makes, with its answer's status and the If-None-Match it sent.
_WATCH_FETCHES = """
window.__fetches = [];
const original = window.fetch;
window.fetch = async function (input, init) {
  const answer = await original.apply(this, arguments);
  const headers = (init && init.headers) || {};
  window.__fetches.push({
    url: String(input), status: answer.status, ifNoneMatch: headers["If-None-Match"] || null,
  });
  return answer;
};
"""
_GRID_IMAGES = """
return Array.from(document.querySelectorAll("#gallery .card img"), (img) => ({
  complete: img.complete, natural: img.naturalWidth, loaded: img.classList.contains("is-loaded"),
  current: img.currentSrc, opacity: getComputedStyle(img).opacity,
}));
"""


def _signed_in(pages: Pages, account: Account, *scripts: str) -> Pages:
    for source in scripts:  # before any page script runs, on every page
        pages.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": source})
    pages.sign_in(account)
    pages.find("#dropzone")
    return pages


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_the_originals_of_a_selection(
    web_server: WebServer, browser_factory: Browser, account: Account, tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    folder.mkdir()
    pages = _signed_in(Pages(browser_factory(downloads=folder), web_server), account)
    for path in (NEF, ARW):
        pages.upload(path)
        pages.upload_row(path.name, "done")
    pages.ready_cards(2)
    for path in (NEF, ARW):
        pages.card(path.name).find_element(By.CSS_SELECTOR, ".card-select").click()
    assert pages.find("#selection-count").text == "2 photos selected"
    pages.find("#bulk-download").click()

    def downloaded() -> list[Path] | None:
        files = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        partial = [p for p in folder.iterdir() if p.name.endswith(".crdownload")]
        return files if len(files) == 2 and not partial else None

    files = pages.wait(downloaded, PAGE_TIMEOUT, "two downloads")
    # The bytes of the files uploaded, each once, under their own names.
    assert sorted(_digest(p.read_bytes()) for p in files) == sorted(
        _digest(p.read_bytes()) for p in (NEF, ARW)
    )
    assert sorted(p.name for p in files) == sorted([NEF.name, ARW.name])


def test_a_size_not_made_yet_falls_back_with_no_broken_image(
    browser_factory: Browser, tmp_path: Path
) -> None:
    """A server whose workers make every size on demand (none in the web request): the first
    answer for a size nobody asked for is a 202 while it is made."""
    folder = tmp_path / "server"
    folder.mkdir()
    with running_web_server(folder, {"RAWPROC_RENDITION_INLINE_MAX_PIXELS": "0"}) as server:
        pages = Pages(browser_factory(), server)
        _size_not_made_yet(_signed_in(pages, server.create_user("later"), _WATCH_IMAGES))


def _size_not_made_yet(pages: Pages) -> None:
    driver: Any = pages.driver
    pages.upload(NEF)
    pages.ready_cards(1)
    pages.wait(
        lambda: driver.execute_script("return sessionStorage.getItem('rawproc.renditions')") == "1",
        PAGE_TIMEOUT,
        "the rendition probe",
    )
    # A high-density screen wants a size made on demand that nobody has asked for yet: its
    # first answer is a 202 (being made), which an <img> takes as an error.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1400, "height": 1000, "deviceScaleFactor": 2, "mobile": False},
    )
    driver.refresh()
    pages.ready_cards(1)
    pages.wait(
        lambda: all(
            i["loaded"] and i["opacity"] == "1" for i in driver.execute_script(_GRID_IMAGES)
        ),
        PAGE_TIMEOUT,
        "the thumbnails to show",
    )
    errors = driver.execute_script("return window.__imageErrors")
    assert any("/renditions/" in e["url"] for e in errors), errors
    # It failed unseen (the image is transparent until it loads, the ThumbHash behind it) ...
    assert all(e["opacity"] == "0" and not e["loaded"] for e in errors), errors
    # ... and the stored sizes took its place: every image in the grid shows real pixels.
    for image in driver.execute_script(_GRID_IMAGES):
        assert image["complete"] and image["natural"] > 0 and image["opacity"] == "1", image
        assert "/renditions/" not in image["current"], image


def _list_polls(pages: Pages) -> list[dict[str, Any]]:
    fetches: list[dict[str, Any]] = pages.driver.execute_script("return window.__fetches")
    return [f for f in fetches if "/api/assets/?" in f["url"]]


def test_polling_sends_if_none_match_and_a_304_keeps_the_grid(
    web_server: WebServer, browser_factory: Browser, account: Account
) -> None:
    pages = _signed_in(Pages(browser_factory(), web_server), account, _WATCH_FETCHES)
    driver: Any = pages.driver
    pages.upload(NEF)
    pages.ready_cards(1)
    pages.wait(lambda: pages.find("#asset-count").text == "(1)", PAGE_TIMEOUT, "the count")
    first = _list_polls(pages)
    assert first and first[0]["ifNoneMatch"] is None and first[0]["status"] == 200

    # Coming back to the tab looks again: nothing changed, so a 304 with no body.
    seen = len(_list_polls(pages))
    time.sleep(0.5)
    driver.execute_script("document.dispatchEvent(new Event('visibilitychange'))")
    again = pages.wait(
        lambda: _list_polls(pages)[seen:] or None, PAGE_TIMEOUT, "the page to look again"
    )
    assert again[-1]["ifNoneMatch"] and again[-1]["status"] == 304, again
    # The grid is as it was: the photo, its thumbnail, the count.
    assert pages.card_titles() == [NEF.name]
    assert pages.images_loaded(pages.card(NEF.name))
    assert pages.find("#asset-count").text == "(1)"
    assert pages.find("#gallery-error").is_displayed() is False

    # A change is a fresh answer (200) and the grid follows it.
    pages.upload(ARW)
    pages.ready_cards(2)
    pages.wait(lambda: pages.find("#asset-count").text == "(2)", PROCESS_TIMEOUT, "the count")
    assert any(p["ifNoneMatch"] and p["status"] == 200 for p in _list_polls(pages)[seen:])
