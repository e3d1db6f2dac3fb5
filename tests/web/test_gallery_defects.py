"""Gallery defects found by trying the page as a photographer would, each kept fixed here:
the Sort box shows the order the grid really has and a filter keeps it; a camera is named
once, maker and model; the camera filter takes any part of the name; a reversed range is
said before the form is sent; Back after signing out shows no photos.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from rawproc.imaging import read_metadata
from tests.samples import FIXTURES
from tests.web.conftest import Account, WebServer
from tests.web.pages import PAGE_TIMEOUT, Pages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
ARW = FIXTURES / "raw" / "sony_slt-a55v_truncated.arw"
# How people name these cameras: the model, led by the maker unless the model says it.
CAMERA_NAMES = {NEF.name: "NIKON D7100", ARW.name: "SONY SLT-A55V"}

Browser = Callable[..., WebDriver]


@pytest.fixture
def pages(web_server: WebServer, browser_factory: Browser, account: Account) -> Pages:
    pages = Pages(browser_factory(), web_server)
    pages.sign_in(account)
    pages.find("#dropzone")
    return pages


def _sorted_by(pages: Pages) -> tuple[str, str]:
    """The Sort box's chosen value and label (read even while the filters are folded)."""
    option = Select(pages.find("#f-ordering")).first_selected_option
    return str(option.get_attribute("value")), str(option.get_attribute("textContent")).strip()


def test_sort_camera_names_filters_and_signing_out(pages: Pages) -> None:
    # The fixtures name their makers as the companies registered them.
    assert read_metadata(NEF)["camera_make"] == "NIKON CORPORATION"
    assert read_metadata(ARW)["camera_make"] == "SONY"
    for path in (NEF, ARW):  # one after the other, so the upload order is known
        pages.upload(path)
        pages.upload_row(path.name, "done")
    pages.ready_cards(2)

    # Newest first, and the Sort box says so (it used to show "Oldest uploads").
    assert pages.card_titles() == [ARW.name, NEF.name]
    assert _sorted_by(pages) == ("-created_at", "Newest uploads")

    # Each camera named once, maker and model, on the cards.
    for name, camera in CAMERA_NAMES.items():
        text = pages.card(name).text
        assert camera in text, text
        assert "CORPORATION" not in text and "NIKON NIKON" not in text

    # A reversed ISO range is said at once, and the form is not sent.
    pages.find("#filters-panel summary").click()
    before = pages.driver.current_url
    pages.find("#f-iso-min").send_keys("3200")
    pages.find("#f-iso-max").send_keys("100")
    message = pages.find("#f-iso-max").get_attribute("validationMessage")
    assert message == "The maximum ISO is below the minimum."
    pages.find("#filters button[type=submit]").click()
    assert pages.driver.current_url == before
    for field in ("#f-iso-min", "#f-iso-max"):
        pages.find(field).clear()
    pages.driver.execute_script(
        'document.getElementById("f-iso-max").dispatchEvent(new Event("input"));'
    )

    # Part of the model, in lower case, finds the camera; the grid keeps its order.
    pages.find("#f-camera").send_keys("d7100")
    pages.find("#filters button[type=submit]").click()
    pages.wait(lambda: "camera_model=d7100" in pages.driver.current_url, PAGE_TIMEOUT, "the filter")
    pages.wait(lambda: pages.card_titles() == [NEF.name], PAGE_TIMEOUT, "only the Nikon file")
    assert "ordering=-created_at" in pages.driver.current_url
    assert _sorted_by(pages) == ("-created_at", "Newest uploads")

    # The photo's page names the camera once too, in its metadata and its alt text.
    pages.card(NEF.name).find_element(By.TAG_NAME, "a").click()
    assert pages.metadata()["Camera"] == CAMERA_NAMES[NEF.name]
    preview = pages.find("#viewer-frame img")
    pages.wait(
        lambda: "taken with a NIKON D7100" in (preview.get_attribute("alt") or ""),
        PAGE_TIMEOUT,
        "the preview's alt text",
    )

    # Back after signing out asks the server again, which wants a sign-in: no photos shown.
    pages.find("form[action$='/logout/'] button[type=submit]").click()
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "the sign-in page")
    pages.driver.back()
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "a sign-in again")
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#metadata dl") == []
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#gallery .card") == []
