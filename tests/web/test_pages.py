"""The web pages in a real headless Chromium against a real server and worker.

Each test signs in as a fresh user, so libraries never mix. Expected metadata values are
read from the fixtures with the engine, not written into the tests.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from rawproc.imaging import read_metadata
from tests.fixtures.dngmaker import make_dng
from tests.fixtures.strip import strip_pixels
from tests.samples import FIXTURES
from tests.web.conftest import MAX_UPLOAD_BYTES, Account, WebServer
from tests.web.pages import PAGE_TIMEOUT, PROCESS_TIMEOUT, Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RAW = FIXTURES / "raw"
NEF = RAW / "nikon_d7100_truncated.nef"
ARW = RAW / "sony_slt-a55v_truncated.arw"
REAL_FILES = sorted(RAW.glob("*_truncated.*"))
INCOMPLETE_ARW = "The file is incomplete: shown from the camera's 1616 px preview."

Browser = Callable[..., WebDriver]


@pytest.fixture
def pages(web_server: WebServer, browser_factory: Browser) -> Pages:
    return Pages(browser_factory(), web_server)


@pytest.fixture
def signed_in(pages: Pages, account: Account) -> Pages:
    pages.sign_in(account)
    pages.find("#dropzone")
    return pages


def _shows(pages: Pages, css: str, text: str) -> bool:
    return text in pages.driver.find_element(By.CSS_SELECTOR, css).text


def _fnumber(value: float) -> str:
    return f"f/{value:g}"


def test_pages_need_a_signed_in_user(pages: Pages, account: Account) -> None:
    pages.open("/")
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "the sign-in page")

    pages.sign_in(account, password="not-the-password")
    alert = pages.find(".alert-error")
    assert "correct username and password" in alert.text

    pages.sign_in(account)
    pages.find("#dropzone")
    assert account.username in pages.find(".topnav").text

    pages.find(".topnav button[type=submit]").click()
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "signing out")
    pages.open("/")
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "the sign-in page")


def test_upload_watch_filter_and_open_an_asset(
    signed_in: Pages, web_server: WebServer, tmp_path: Path, screenshot_dir: Path
) -> None:
    pages = signed_in
    not_raw = tmp_path / "notes.txt"
    not_raw.write_text("shopping list, not a photograph\n")
    too_large = tmp_path / "huge.nef"
    with too_large.open("wb") as fh:
        fh.truncate(MAX_UPLOAD_BYTES + 1)

    pages.upload(*REAL_FILES, not_raw, too_large)

    assert "Too large" in pages.upload_row("huge.nef", "error", PAGE_TIMEOUT).text
    refused = pages.upload_row("notes.txt", "error")
    assert refused.get_attribute("data-error") == "unsupported_format"
    assert "Not a RAW file" in refused.text
    for path in REAL_FILES:
        pages.upload_row(path.name, "done")

    # The gallery fills in by itself as the worker renders thumbnails: no reload here.
    pages.ready_cards(len(REAL_FILES))
    assert sorted(pages.card_titles()) == sorted(path.name for path in REAL_FILES)
    alts = pages.driver.execute_script(
        'return Array.from(document.querySelectorAll("#gallery .card img"), (i) => i.alt);'
    )
    assert sorted(alts) == sorted(f"Thumbnail of {path.name}" for path in REAL_FILES)
    nikon = read_metadata(NEF)
    assert nikon["camera_model"] in pages.card(NEF.name).text
    # The cut-off Sony file is shown from its preview, and its card says so.
    warning = pages.card(ARW.name).find_element(By.CSS_SELECTOR, ".card-warning")
    assert warning.text == INCOMPLETE_ARW
    pages.driver.execute_script("window.scrollTo(0, 0)")
    pages.screenshots(screenshot_dir, "gallery")

    # Filter by camera and ISO range through the form, as a person would.
    pages.find("#f-camera").send_keys(nikon["camera_model"])
    pages.find("#f-iso-min").send_keys(str(nikon["iso"]))
    pages.find("#f-iso-max").send_keys(str(nikon["iso"]))
    pages.find("#filters button[type=submit]").click()
    pages.wait(
        lambda: pages.card_titles() == [NEF.name], PAGE_TIMEOUT, "only the Nikon file to remain"
    )

    pages.card(NEF.name).find_element(By.TAG_NAME, "a").click()
    frame = pages.find("#viewer-frame")
    pages.wait(lambda: pages.images_loaded(frame), PAGE_TIMEOUT, "the preview")
    shown = pages.metadata()
    assert nikon["camera_model"] in shown["Camera"]
    assert shown["ISO"] == str(nikon["iso"])
    assert shown["Aperture"] == _fnumber(nikon["f_number"])
    assert shown["Shutter"] == f"{nikon['exposure_time_display']} s"
    assert shown["Focal length"] == f"{nikon['focal_length_mm']:g} mm"
    assert shown["Name"] == NEF.name
    assert pages.badge_text() == "ready"


def test_asset_page_zoom_downloads_and_location(signed_in: Pages, screenshot_dir: Path) -> None:
    pages = signed_in
    expected = read_metadata(ARW)
    pages.upload(ARW)
    pages.ready_cards(1)[0].find_element(By.TAG_NAME, "a").click()
    frame = pages.find("#viewer-frame")
    pages.wait(lambda: pages.images_loaded(frame), PAGE_TIMEOUT, "the preview")

    warnings = pages.find("#asset-warnings")
    assert warnings.is_displayed()
    assert [li.text for li in warnings.find_elements(By.TAG_NAME, "li")] == [INCOMPLETE_ARW]
    shown = pages.metadata()
    assert shown["Rendered from"] == "the camera's embedded preview"
    assert shown["Lens"].endswith(expected["lens_model"])
    assert shown["Latitude"] == f"{expected['gps']['latitude']:.5f}° N"
    assert shown["Longitude"] == f"{expected['gps']['longitude']:.5f}° E"
    osm = pages.find('#metadata a[href^="https://www.openstreetmap.org/"]')
    assert f"mlat={expected['gps']['latitude']:.6f}" in str(osm.get_attribute("href"))
    pages.driver.save_screenshot(str(screenshot_dir / "asset.png"))

    # Downloads go through the API's redirect to a signed URL and return the real bytes.
    http = pages.http()
    links = {
        str(a.get_attribute("data-variant")): str(a.get_attribute("href"))
        for a in pages.driver.find_elements(By.CSS_SELECTOR, "#downloads a")
    }
    # The stored renditions and the original, and any size the gallery's srcset had made
    # on demand (named by its spec key, e.g. 640-webp-82).
    assert {"thumbnail", "preview", "full", "original"} <= set(links)
    assert all(
        re.fullmatch(r"\d+-(jpeg|webp|avif)-\d+", name)
        for name in set(links) - {"thumbnail", "preview", "full", "original"}
    ), links
    original = http.get(links["original"], timeout=30)
    assert original.status_code == 200
    assert original.content == ARW.read_bytes()
    preview = http.get(links["preview"], timeout=30)
    assert preview.status_code == 200
    assert preview.headers["Content-Type"].startswith("image/")

    # Click to see the full rendition at 100 % in a scrollable frame, click again to fit.
    button = pages.find("#zoom-btn")
    fitted_width = pages.find("#viewer-img").size["width"]
    button.click()
    assert button.get_attribute("aria-pressed") == "true"
    pages.wait(lambda: pages.images_loaded(frame), PAGE_TIMEOUT, "the full rendition")
    image = pages.find("#viewer-img")
    natural = pages.driver.execute_script("return arguments[0].naturalWidth", image)
    assert image.size["width"] == natural > fitted_width
    button.click()
    assert button.get_attribute("aria-pressed") == "false"


# The statuses the grid's card goes through, as the page re-renders it.
_WATCH_CARD_STATUS = """
window.__cardStatuses = [];
new MutationObserver(() => {
  const card = document.querySelector("#gallery .card");
  const last = window.__cardStatuses[window.__cardStatuses.length - 1];
  if (card && card.dataset.status !== last) window.__cardStatuses.push(card.dataset.status);
}).observe(document.getElementById("gallery"), { subtree: true, childList: true,
              attributes: true });
"""


def test_reprocess_then_delete(signed_in: Pages, web_server: WebServer, tmp_path: Path) -> None:
    pages = signed_in
    dng = make_dng(tmp_path / "chart.dng", width=600, height=400)
    pages.upload(dng)
    pages.ready_cards(1)[0].find_element(By.TAG_NAME, "a").click()
    asset_url = pages.driver.current_url
    api_url = asset_url.replace("/assets/", "/api/assets/")
    first = pages.http().get(api_url, timeout=30).json()

    # The photo opened over the grid: the card behind follows its status.
    pages.driver.execute_script(_WATCH_CARD_STATUS)
    pages.find("#reprocess-btn").click()
    pages.wait(lambda: pages.badge_text() != "ready", PAGE_TIMEOUT, "the asset to be queued")
    pages.wait(lambda: pages.badge_text() == "ready", PROCESS_TIMEOUT, "reprocessing to finish")
    again = pages.http().get(api_url, timeout=30).json()
    assert again["processed_at"] > first["processed_at"]
    pages.wait(
        lambda: pages.driver.execute_script("return window.__cardStatuses").count("ready") >= 1,
        PAGE_TIMEOUT,
        "the card behind to be ready again",
    )
    statuses = pages.driver.execute_script("return window.__cardStatuses")
    assert {"queued", "processing"} & set(statuses), statuses

    pages.find("#delete-btn").click()
    pages.driver.switch_to.alert.accept()
    pages.wait(lambda: pages.driver.current_url.endswith("/"), PAGE_TIMEOUT, "the gallery")
    pages.wait(lambda: pages.find("#gallery-empty").is_displayed(), PAGE_TIMEOUT, "no photos")
    pages.open(asset_url.removeprefix(web_server.base))
    assert "Photo not found" in pages.find("main h1").text


def test_network_failure_offers_a_retry(signed_in: Pages) -> None:
    pages = signed_in
    driver: Any = pages.driver
    driver.execute_cdp_cmd("Network.enable", {})
    conditions = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, **conditions})
    pages.upload(ARW)
    row = pages.upload_row(ARW.name, "error", PAGE_TIMEOUT)
    assert row.get_attribute("data-error") == "network_error"
    assert "Network error" in row.text

    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, **conditions})
    row.find_element(By.XPATH, ".//button[normalize-space()='Retry']").click()
    pages.upload_row(ARW.name, "done")
    pages.ready_cards(1)


def test_another_user_cannot_open_my_asset(
    signed_in: Pages, web_server: WebServer, browser_factory: Browser
) -> None:
    signed_in.upload(ARW)
    signed_in.ready_cards(1)[0].find_element(By.TAG_NAME, "a").click()
    path = signed_in.driver.current_url.removeprefix(web_server.base)

    other = Pages(browser_factory(), web_server)
    other.sign_in(web_server.create_user("intruder"))
    other.find("#dropzone")
    other.open(path)
    assert "Photo not found" in other.find("main h1").text
    other.open("/")
    other.wait(lambda: other.find("#gallery-empty").is_displayed(), PAGE_TIMEOUT, "no photos")


def test_phone_sized_screen(pages: Pages, account: Account, screenshot_dir: Path) -> None:
    pages.driver.set_window_size(390, 844)
    pages.sign_in(account)
    pages.upload(ARW)
    pages.ready_cards(1)
    assert pages.no_horizontal_scroll()
    pages.screenshots(screenshot_dir, "gallery-phone")
    pages.card(ARW.name).find_element(By.TAG_NAME, "a").click()
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview")
    assert pages.no_horizontal_scroll()


def test_failed_asset_page_shows_its_metadata(signed_in: Pages, tmp_path: Path) -> None:
    """A file whose pixels and previews are gone fails, and its page still describes it."""
    pages = signed_in
    source = RAW / "pentax_k-3-ii_truncated.pef"
    stripped = tmp_path / "stripped.pef"
    stripped.write_bytes(strip_pixels(source.read_bytes(), previews=True))
    expected = read_metadata(stripped)
    pages.upload(stripped)
    pages.upload_row(stripped.name, "done")
    listing = pages.http().get(pages.server.url("/api/assets/"), timeout=30).json()
    asset_id = next(a["id"] for a in listing["results"] if a["original_filename"] == stripped.name)
    pages.open(f"/assets/{asset_id}/")
    pages.wait(lambda: pages.badge_text() == "failed", PROCESS_TIMEOUT, "the asset to fail")
    shown = pages.metadata()
    assert expected["camera_model"] in shown["Camera"]
    assert shown["Lens"].endswith(expected["lens_model"])
    assert shown["ISO"] == str(expected["iso"])
    assert shown["Shutter"] == f"{expected['exposure_time_display']} s"
    assert "Processing failed" in pages.find("#asset-error").text
