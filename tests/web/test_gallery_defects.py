"""Gallery defects found by trying the page as a photographer would, each kept fixed here:
the Sort box shows the order the grid really has and a filter keeps it; a camera is named
once, maker and model; the camera filter takes any part of the name; a reversed range is
said before the form is sent; Back after signing out shows no photos. Then the gallery's
layout, messages, uploads, dates and search, the photo page's keys and true 100 %, the
selection and its actions, and the two themes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

from rawproc.imaging import read_metadata
from tests.fixtures.strip import strip_pixels
from tests.samples import FIXTURES
from tests.web.conftest import Account, WebServer, running_web_server
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
    pages.find("body").send_keys(Keys.ESCAPE)  # the photo opened over the gallery
    pages.wait(lambda: not pages.find("#lightbox").is_displayed(), PAGE_TIMEOUT, "the gallery")
    pages.find("form[action$='/logout/'] button[type=submit]").click()
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "the sign-in page")
    pages.driver.back()
    pages.wait(lambda: "/login/" in pages.driver.current_url, PAGE_TIMEOUT, "a sign-in again")
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#metadata dl") == []
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#gallery .card") == []


# ---- layout, messages, uploads, dates, the photo's keys; search and chips

PEF = FIXTURES / "raw" / "pentax_k-3-ii_truncated.pef"
# A day-and-time as the pages write every date: no zone on any of them.
DATE = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d(:\d\d)?$")

_RECT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"
_CARDS = """
return Array.from(document.querySelectorAll('#gallery .card'), (card) => {
  const box = (e) => { if (!e) return null; const r = e.getBoundingClientRect();
                       return [r.left, r.top, r.right, r.bottom]; };
  const img = card.querySelector('img');
  const exposure = card.querySelector('.card-exposure');
  return {
    name: card.dataset.filename, status: card.dataset.status,
    ratio: getComputedStyle(card).getPropertyValue('--r').trim(),
    card: box(card), link: box(card.querySelector('.card-link')),
    media: box(card.querySelector('.card-media')),
    natural: img && img.naturalWidth ? img.naturalWidth / img.naturalHeight : null,
    title: card.querySelector('.card-title').title,
    exposure: exposure && exposure.textContent,
    exposureShown: !!exposure && exposure.offsetHeight > 0
      && exposure.scrollWidth <= exposure.clientWidth + 1,
    lines: Array.from(card.querySelectorAll('.card-body > *'),
                      (e) => e.scrollWidth <= e.clientWidth + 1),
  };
});
"""


def _rect(pages: Pages, css: str) -> list[float]:
    return [float(v) for v in pages.driver.execute_script(_RECT, pages.find(css))]


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _failing_file(tmp_path: Path) -> Path:
    """A real camera file with its pixels and previews gone: it fails to process."""
    stripped = tmp_path / "no_pixels_at_all.pef"
    stripped.write_bytes(strip_pixels(PEF.read_bytes(), previews=True))
    return stripped


def _upload_two_ready_and_one_failing(pages: Pages, tmp_path: Path) -> Path:
    """The NEF, the ARW and a file that fails, uploaded one after the other (so the order
    is known), the first two ready and the third failed; the failing file's path."""
    failing = _failing_file(tmp_path)
    for path in (NEF, ARW, failing):
        pages.upload(path)
        pages.upload_row(path.name, "done")
    pages.ready_cards(2)
    pages.wait(
        lambda: pages.driver.find_elements(By.CSS_SELECTOR, '.card[data-status="failed"]'),
        PAGE_TIMEOUT * 4,
        "the stripped file to fail",
    )
    return failing


_FILTER_FIELDS = (
    *("#f-status", "#f-camera", "#f-lens", "#f-iso-min", "#f-iso-max", "#f-after"),
    *("#f-before", "#f-ordering", "#filters button[type=submit]"),
)


def test_filter_fields_do_not_overlap_at_desktop_widths(pages: Pages) -> None:
    for width in (1200, 1380, 1400, 1600, 1920):
        pages.driver.set_window_size(width, 900)
        # The filters are in sight, not behind a disclosure, and there is no toggle.
        assert all(pages.find(css).is_displayed() for css in _FILTER_FIELDS), width
        assert not pages.find("#filters-toggle").is_displayed()
        if width >= 1380:  # a compact bar: every field on one row
            bottoms = [_rect(pages, css)[3] for css in _FILTER_FIELDS]
            assert max(bottoms) - min(bottoms) <= 4, (width, bottoms)
        after, before = _rect(pages, "#f-after"), _rect(pages, "#f-before")
        ordering, taken = _rect(pages, "#f-ordering"), _rect(pages, "#f-before")
        fieldset = [
            float(v)
            for v in pages.driver.execute_script(
                _RECT, pages.find("#f-before").find_element(By.XPATH, "..")
            )
        ]
        assert not _overlap(taken, ordering), (width, taken, ordering)
        assert not _overlap(after, before), (width, after, before)
        assert fieldset[0] <= before[0] and before[2] <= fieldset[2] + 1, (width, before, fieldset)


def test_filters_fold_behind_a_button_on_a_phone(pages: Pages) -> None:
    pages.driver.set_window_size(390, 844)
    toggle = pages.find("#filters-toggle")
    assert toggle.is_displayed() and toggle.get_attribute("aria-expanded") == "false"
    assert not pages.find("#f-camera").is_displayed()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert all(pages.find(css).is_displayed() for css in _FILTER_FIELDS)
    assert pages.no_horizontal_scroll()
    # Checked as typed on the phone too: a reversed date range is said at once.
    pages.driver.execute_script(
        """for (const [id, v] of [["f-after", "2024-05-02"], ["f-before", "2024-05-01"]]) {
             const e = document.getElementById(id); e.value = v;
             e.dispatchEvent(new Event("input")); }"""
    )
    message = pages.find("#f-before").get_attribute("validationMessage")
    assert message == "The end date is before the start date."
    toggle.click()
    assert not pages.find("#f-camera").is_displayed()


def test_cards_messages_uploads_dates_and_keys(
    pages: Pages, tmp_path: Path, screenshot_dir: Path
) -> None:
    failing = _upload_two_ready_and_one_failing(pages, tmp_path)

    # Uploads: finished ones fold into a count, and the list can be cleared.
    summary = pages.find("#upload-summary")
    pages.wait(lambda: summary.text == "3 uploaded", PAGE_TIMEOUT, "the upload count")
    assert not any(
        row.is_displayed() for row in pages.driver.find_elements(By.CSS_SELECTOR, "#upload-list li")
    )
    pages.find("#upload-toggle").click()
    assert all(
        row.is_displayed() for row in pages.driver.find_elements(By.CSS_SELECTOR, "#upload-list li")
    )
    pages.find("#upload-clear").click()
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#upload-list li") == []
    assert not pages.find("#upload-panel").is_displayed()

    cards = {card["name"]: card for card in pages.driver.execute_script(_CARDS)}
    assert set(cards) == {NEF.name, ARW.name, failing.name}
    for name, card in cards.items():
        # Each photo at its own aspect ratio; the link (and its focus outline) is the card.
        if card["natural"]:
            media = card["media"]
            assert abs((media[2] - media[0]) / (media[3] - media[1]) - card["natural"]) < 0.03
            # The row is laid out from the same ratio (the card's flex basis and growth).
            assert abs(float(card["ratio"]) - card["natural"]) < 0.01, card
        assert all(abs(a - b) < 1 for a, b in zip(card["link"], card["card"], strict=True)), name
        # Names have a tooltip; no line of text runs past its card.
        assert card["title"] == name
        assert all(card["lines"]), (name, card)
    for name in (NEF.name, ARW.name):
        assert cards[name]["exposureShown"] and "ISO" in cards[name]["exposure"], cards[name]

    # A failure is one short sentence on its card (detail in the tooltip): it makes no row
    # taller than the ready photos' text does.
    failed = cards[failing.name]
    ready_height = max(
        c["card"][3] - c["card"][1] - (c["media"][3] - c["media"][1])
        for c in cards.values()
        if c["status"] == "ready"
    )
    failed_text = failed["card"][3] - failed["card"][1] - (failed["media"][3] - failed["media"][1])
    assert failed_text <= ready_height + 40, (failed_text, ready_height)
    error = pages.card(failing.name).find_element(By.CSS_SELECTOR, ".card-error")
    assert len(error.text) <= 140 and error.get_attribute("title")

    # Keyboard focus outlines the whole card.
    link = pages.card(NEF.name).find_element(By.CSS_SELECTOR, ".card-link")
    pages.driver.execute_script("window.scrollTo(0, 0)")
    link.send_keys(Keys.SHIFT)  # keyboard focus, as Tab would give
    pages.driver.execute_script("arguments[0].focus()", link)
    style = pages.driver.execute_script("return getComputedStyle(arguments[0]).outlineStyle", link)
    assert style == "solid"

    # The photo: 100 % of the full-size rendition, Escape leaves zoom, then the gallery;
    # arrows go to the next and previous photo.
    pages.driver.set_window_size(1400, 560)  # short enough for the gallery to scroll
    pages.driver.execute_script("window.scrollTo(0, 200)")
    scrolled = pages.driver.execute_script("return window.scrollY")
    assert scrolled > 0
    pages.driver.execute_script("arguments[0].click()", link)  # as is: no scrolling into view
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview")
    detail = (
        pages.http()
        .get(
            pages.server.url(f"/api/assets/{pages.driver.current_url.rstrip('/').split('/')[-1]}/"),
            timeout=30,
        )
        .json()
    )
    full = next(v for v in detail["variants"] if v["name"] == "full")
    preview = next(v for v in detail["variants"] if v["name"] == "preview")
    body = pages.find("body")
    body.send_keys("z")
    pages.wait(
        lambda: pages.find("#zoom-btn").get_attribute("aria-pressed") == "true",
        PAGE_TIMEOUT,
        "zoom",
    )
    pages.wait(lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "full size")
    natural = pages.driver.execute_script(
        "return arguments[0].naturalWidth", pages.find("#viewer-img")
    )
    assert natural == full["width"] > preview["width"]
    body.send_keys(Keys.ESCAPE)
    assert pages.find("#zoom-btn").get_attribute("aria-pressed") == "false"
    # Dates read the same way everywhere: no time zone on any.
    for label in ("Taken", "Uploaded", "Processed"):
        assert DATE.match(pages.metadata()[label]), (label, pages.metadata()[label])
    nikon_url = pages.driver.current_url
    pages.driver.set_window_size(1400, 900)
    pages.screenshots(screenshot_dir, "lightbox")
    pages.driver.set_window_size(1400, 560)
    pages.find("body").send_keys(Keys.ARROW_LEFT)  # the Sony file is before it (newer)
    pages.wait(lambda: pages.driver.current_url != nikon_url, PAGE_TIMEOUT, "the previous photo")
    pages.wait(lambda: pages.find("#asset-title").text == ARW.name, PAGE_TIMEOUT, "its title")
    for label in ("Taken", "Uploaded", "Processed"):
        assert DATE.match(pages.metadata()[label]), (label, pages.metadata()[label])
    pages.find("body").send_keys("i")
    assert not pages.find("#details").is_displayed()
    pages.find("body").send_keys("i")
    assert pages.find("#details").is_displayed()
    pages.find("body").send_keys(Keys.ARROW_RIGHT)
    pages.wait(lambda: pages.driver.current_url == nikon_url, PAGE_TIMEOUT, "the next photo")
    pages.find("#asset-title")
    pages.find("body").send_keys(Keys.ESCAPE)
    pages.wait(
        lambda: pages.driver.find_elements(By.CSS_SELECTOR, "#gallery .card"),
        PAGE_TIMEOUT,
        "the gallery",
    )
    pages.wait(
        lambda: abs(pages.driver.execute_script("return window.scrollY") - scrolled) < 2,
        PAGE_TIMEOUT,
        "the scroll position to come back",
    )

    # Search: any part of the name, camera or lens; the active filters are chips.
    search = pages.find("#f-q")
    search.send_keys("sony", Keys.ENTER)
    pages.wait(lambda: pages.card_titles() == [ARW.name], PAGE_TIMEOUT, "only the Sony file")
    chip = pages.find('#chips .chip[data-param="q"]')
    assert chip.text.startswith("Search: sony")
    pages.find("#f-q").clear()
    pages.find("#f-q").send_keys("no_pixels", Keys.ENTER)
    pages.wait(lambda: pages.card_titles() == [failing.name], PAGE_TIMEOUT, "the file by name")
    pages.find('#chips .chip[data-param="q"] .chip-remove').click()
    pages.wait(lambda: len(pages.card_titles()) == 3, PAGE_TIMEOUT, "every photo again")
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#chips .chip") == []

    # Sorted by shot date, the photos are grouped under the day they were taken.
    Select(pages.find("#f-ordering")).select_by_value("-taken_at")
    pages.find("#filters button[type=submit]").click()
    pages.wait(
        lambda: pages.driver.find_elements(By.CSS_SELECTOR, "#gallery .day-header"),
        PAGE_TIMEOUT,
        "day headers",
    )
    headers = [h.text for h in pages.driver.find_elements(By.CSS_SELECTOR, "#gallery .day-header")]
    assert len(headers) == len(set(headers)) >= 1
    # The order is not a filter: no chip for it.
    assert pages.driver.find_elements(By.CSS_SELECTOR, "#chips .chip") == []


def test_phone_cards_show_the_exposure(
    web_server: WebServer, browser_factory: Browser, account: Account
) -> None:
    pages = Pages(browser_factory(390, 844), web_server)
    pages.sign_in(account)
    pages.upload(NEF)
    pages.ready_cards(1)
    card = {c["name"]: c for c in pages.driver.execute_script(_CARDS)}[NEF.name]
    assert card["exposureShown"] and "ISO" in card["exposure"], card
    assert all(card["lines"]), card
    assert pages.no_horizontal_scroll()


_BACKGROUND = """
const [r, g, b] = getComputedStyle(document.body.parentElement).backgroundColor
  .match(/\\d+/g).map(Number);
return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
"""


def test_light_and_dark_themes_follow_the_system(pages: Pages, screenshot_dir: Path) -> None:
    for scheme, dark in (("light", False), ("dark", True), ("light", False)):
        pages.driver.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        luminance = float(pages.driver.execute_script(_BACKGROUND))
        assert (luminance < 0.2) if dark else (luminance > 0.8), (scheme, luminance)
        text = pages.driver.execute_script(
            "return getComputedStyle(document.body.parentElement).color"
        )
        assert text != pages.driver.execute_script(
            "return getComputedStyle(document.body.parentElement).backgroundColor"
        )
    pages.upload(NEF)
    pages.ready_cards(1)
    pages.driver.save_screenshot(str(screenshot_dir / "gallery-light.png"))


def _selected(pages: Pages) -> list[str]:
    return [
        str(node.get_attribute("data-filename"))
        for node in pages.driver.find_elements(
            By.CSS_SELECTOR, '#gallery .card[data-selected="true"]'
        )
    ]


def test_select_and_act_on_several_photos(
    pages: Pages, tmp_path: Path, screenshot_dir: Path
) -> None:
    failing = _upload_two_ready_and_one_failing(pages, tmp_path)
    order = pages.card_titles()
    assert order == [failing.name, ARW.name, NEF.name]

    # Space on a focused photo, then Shift-click on another: the range between them.
    link = pages.card(order[0]).find_element(By.CSS_SELECTOR, ".card-link")
    link.send_keys(Keys.SPACE)
    assert _selected(pages) == [order[0]]
    assert pages.find("#selection-count").text == "1 photo selected"
    check = pages.card(order[2]).find_element(By.CSS_SELECTOR, ".card-select")
    ActionChains(pages.driver).key_down(Keys.SHIFT).click(check).key_up(Keys.SHIFT).perform()
    assert _selected(pages) == order
    pages.screenshots(screenshot_dir, "selection")
    # A plain click toggles one.
    pages.card(order[1]).find_element(By.CSS_SELECTOR, ".card-select").click()
    assert _selected(pages) == [order[0], order[2]]
    pages.find("#select-none").click()
    assert _selected(pages) == [] and not pages.find("#selection-bar").is_displayed()

    # Select all that match the search: only the Sony and Nikon files end in "_truncated".
    pages.find("#f-q").send_keys("truncated", Keys.ENTER)
    pages.wait(lambda: len(pages.card_titles()) == 2, PAGE_TIMEOUT, "the search")
    pages.card(ARW.name).find_element(By.CSS_SELECTOR, ".card-select").click()
    pages.find("#select-all").click()
    pages.wait(
        lambda: pages.find("#selection-count").text == "2 photos selected",
        PAGE_TIMEOUT,
        "every match selected",
    )

    # Reprocess them: they are queued again and come back ready.
    pages.find("#bulk-reprocess").click()
    pages.wait(
        lambda: (
            "Reprocessing 2 photos" in pages.find("#live-status").text
            or "Ready" in pages.find("#live-status").text
        ),
        PAGE_TIMEOUT,
        "the reprocessing",
    )
    pages.ready_cards(2)

    # Delete: the confirmation names what goes.
    pages.find("#f-q").clear()
    pages.find("#f-q").send_keys(Keys.ENTER)
    pages.wait(lambda: len(pages.card_titles()) == 3, PAGE_TIMEOUT, "every photo")
    for name in (failing.name, NEF.name):
        pages.card(name).find_element(By.CSS_SELECTOR, ".card-select").click()
    pages.find("#bulk-delete").click()
    alert = pages.driver.switch_to.alert
    assert alert.text.startswith("Delete 2 photos (")
    assert failing.name in alert.text and NEF.name in alert.text and ARW.name not in alert.text
    alert.accept()
    pages.wait(lambda: pages.card_titles() == [ARW.name], PAGE_TIMEOUT, "the two deleted")
    listing = pages.http().get(pages.server.url("/api/assets/"), timeout=30).json()
    assert [a["original_filename"] for a in listing["results"]] == [ARW.name]


def test_zoom_without_a_full_rendition_says_it_shows_the_preview(
    browser_factory: Browser, tmp_path: Path
) -> None:
    """No stored full rendition, and a server that makes no full size on demand (full is not
    among its allowed sizes): 100 % is the preview's, and said."""
    folder = tmp_path / "server"
    folder.mkdir()
    no_full = {"RAWPROC_FULL_RENDITION": "0", "RAWPROC_RENDITION_SIZES": "160,320,640,1080,2048"}
    with running_web_server(folder, no_full) as server:
        pages = Pages(browser_factory(), server)
        pages.sign_in(server.create_user("nofull"))
        pages.upload(NEF)
        pages.ready_cards(1)[0].find_element(By.TAG_NAME, "a").click()
        pages.wait(
            lambda: pages.images_loaded(pages.find("#viewer-frame")), PAGE_TIMEOUT, "preview"
        )
        pages.find("body").send_keys("z")
        hint = pages.find("#zoom-hint")
        pages.wait(lambda: hint.get_attribute("data-state") == "none", PAGE_TIMEOUT, "the fallback")
        assert hint.text.startswith("Full size is not available here: 100 % shows the 2048 px")
        assert pages.find("#zoom-btn").get_attribute("aria-pressed") == "true"
        natural = pages.driver.execute_script(
            "return arguments[0].naturalWidth", pages.find("#viewer-img")
        )
        assert natural == 2048
        pages.find("body").send_keys(Keys.ESCAPE)
        assert pages.find("#zoom-btn").get_attribute("aria-pressed") == "false"


def test_placeholders_and_sizes_from_renditions_on_demand(pages: Pages) -> None:
    pages.upload(NEF)
    pages.upload_row(NEF.name, "done")
    pages.ready_cards(1)
    # The API's ThumbHash is painted behind the image: a small PNG made in the page.
    media = pages.card(NEF.name).find_element(By.CSS_SELECTOR, ".card-media")
    background = pages.driver.execute_script(
        "return getComputedStyle(arguments[0]).backgroundImage", media
    )
    assert str(background).startswith('url("data:image/png;base64,'), background
    # The server makes renditions on demand, so once the page knows it (it asks once per
    # session), every card offers the in-between sizes too, next to the stored ones.
    pages.wait(
        lambda: (
            pages.driver.execute_script("return sessionStorage.getItem('rawproc.renditions')")
            == "1"
        ),
        PAGE_TIMEOUT,
        "the rendition probe",
    )
    pages.driver.refresh()
    pages.ready_cards(1)
    image = pages.card(NEF.name).find_element(By.CSS_SELECTOR, ".card-media img")
    srcset = str(image.get_attribute("srcset"))
    widths = [int(w) for w in re.findall(r" (\d+)w", srcset)]
    assert widths == sorted(widths)
    assert {320, 640, 1080} <= set(widths), srcset
    assert "/renditions/640.webp/" in srcset and "/renditions/1080.webp/" in srcset
