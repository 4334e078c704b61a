"""End to end: the real service (`search-service serve`, gunicorn) driven by headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``bash scripts/browser_deps.sh``), the
``selenium`` package, and the shared data next to the repository; it is skipped, saying which is
missing, otherwise. Run it with ``pytest -m browser tests/test_browser.py``.

Screenshots (desktop and phone, full page) are saved to ``$SEARCH_SCREENSHOTS_DIR`` when it is set,
else to a temporary directory; their paths are printed (see them with ``pytest -s``).
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from base64 import b64decode
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

pytestmark = pytest.mark.browser

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TTTD_PAGE = SHARED / "page-tttd-2022-11-14.txt"
VNTC = SHARED / "news-vntc.jsonl.gz"
VNTC_ARTICLES = 200
TTTD_ID = "page:page-tttd-2022-11-14"

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--lang=en-US",  # date inputs take mm/dd/yyyy keystrokes (type_date copes with other orders too)
]
DESKTOP = (1280, 900)
PHONE = (390, 844)
WAIT = 15  # seconds for any page to load or element to appear
SERVER_START = 60  # seconds for gunicorn to answer /healthz


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in ("/usr/lib/chromium/chromedriver", "/usr/lib/chromium/chromium"):
        if Path(path).name in names and os.access(path, os.X_OK):
            return path
    return None


# -- the service -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_command() -> list[str]:
    script = Path(sys.executable).with_name("search-service")
    if script.exists():
        return [str(script)]
    found = shutil.which("search-service")
    return [found] if found else [sys.executable, "-m", "search_service.cli"]


def _stop(proc: subprocess.Popen) -> None:
    """Stop gunicorn and its workers (its own process group), politely, then firmly."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TTTĐ page plus the first VNTC articles that have a title, as input files."""
    for path in (TTTD_PAGE, VNTC):
        if not path.exists():
            pytest.skip(f"shared data file not available: {path}")
    d = tmp_path_factory.mktemp("browser-corpus")
    shutil.copy(TTTD_PAGE, d / TTTD_PAGE.name)
    with gzip.open(VNTC, "rt", encoding="utf-8") as src, open(d / "vntc.jsonl", "w", encoding="utf-8") as out:
        titled = (line for line in src if (json.loads(line).get("title") or "").strip())
        out.writelines(itertools.islice(titled, VNTC_ARTICLES))
    return d


@pytest.fixture(scope="module")
def server(corpus: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """Index the corpus, serve it with `search-service serve` on a free port; its base URL."""
    from search_service.indexer import ingest
    from search_service.sources import read_paths
    from search_service.store import IndexStore

    index_dir = tmp_path_factory.mktemp("browser-index") / "index"
    report = ingest(IndexStore(index_dir), read_paths([str(p) for p in sorted(corpus.iterdir())]), jobs=1)
    assert report.indexed == VNTC_ARTICLES + 1, report.summary()

    port = _free_port()
    log_path = index_dir.parent / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed by the finalizer
    cmd = [*_service_command(), "serve", "--index-dir", str(index_dir), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                            start_new_session=True)  # fmt: skip

    def finish() -> None:
        _stop(proc)
        log.close()

    request.addfinalizer(finish)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START
    while True:
        if proc.poll() is not None:
            pytest.fail(f"search-service serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"search-service serve did not answer in {SERVER_START} s:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return base


# -- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    """Headless Chromium through chromedriver (Debian's packages), with a fresh profile."""
    selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
    del selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium = _which("chromium", "chromium-browser", "google-chrome")
    chromedriver = _which("chromedriver")
    if not chromium or not chromedriver:
        pytest.skip("chromium and chromedriver are needed: run `bash scripts/browser_deps.sh` as root")
    options = Options()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    log_path = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    drv = webdriver.Chrome(service=Service(chromedriver, log_output=str(log_path)), options=options)
    try:
        drv.set_page_load_timeout(WAIT)
        drv.set_script_timeout(WAIT)
        yield drv
    finally:
        drv.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go."""
    wanted = os.environ.get("SEARCH_SCREENSHOTS_DIR")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp("screenshots")


def screenshot(drv, path: Path) -> None:
    """A full-page PNG (the whole document, not just the viewport)."""
    data = drv.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(b64decode(data["data"]))
    print(f"screenshot: {path}")


def emulate(drv, size: tuple[int, int] | None) -> None:
    """Phone emulation (viewport, touch, mobile meta viewport) at ``size``, or back to the desktop window."""
    if size is None:
        drv.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})
        return
    width, height = size
    metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    drv.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def wait_for(drv, condition, message: str):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(drv, WAIT).until(condition, message)


def load(drv, url: str) -> None:
    drv.get(url)
    wait_for(drv, lambda d: d.execute_script("return document.readyState") == "complete", f"{url} did not load")


def results(drv) -> list[dict]:
    """The results on the page: article id, title, marked words, section."""
    return drv.execute_script(
        """
        return Array.from(document.querySelectorAll('ol.hits > li.hit')).map(li => ({
            id: decodeURIComponent(new URL(li.querySelector('h2 a').href).pathname.replace(/^\\/articles\\//, '')),
            title: li.querySelector('h2').innerText,
            marks: Array.from(li.querySelectorAll('mark')).map(m => m.textContent),
            section: (li.querySelector('.meta .section a') || {textContent: ''}).textContent,
            meta: li.querySelector('.meta').innerText,
        }));
        """
    )


def type_date(drv, element, iso: str) -> None:
    """Type a date into an <input type=date> with the keyboard, whatever the field order of the locale."""
    y, m, d = iso.split("-")
    for keys in (m + d + y, d + m + y, y + m + d):
        element.clear()
        element.send_keys(keys)  # focuses the field's first segment, then types
        if element.get_attribute("value") == iso:
            return
    pytest.fail(f"could not type {iso} into #{element.get_attribute('id')}: got {element.get_attribute('value')!r}")


def no_horizontal_scroll(drv) -> tuple[int, int]:
    return tuple(drv.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]"))


# -- the test ----------------------------------------------------------------------------------------


def test_search_filter_and_phone_layout(driver, server: str, shots: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from search_service.sources.textpage import parse_text_page

    page = parse_text_page(TTTD_PAGE.read_text(encoding="utf-8"), TTTD_ID)
    assert page["section"] == "Xã hội"

    # 1. Keyboard only: the box has the focus, type without diacritics, press Enter.
    load(driver, server + "/")
    assert driver.execute_script("return document.documentElement.lang") == "vi"
    active = driver.switch_to.active_element
    if active.get_attribute("id") != "q":
        for _ in range(5):  # skip link first, then the box
            ActionChains(driver).send_keys(Keys.TAB).perform()
            if driver.switch_to.active_element.get_attribute("id") == "q":
                break
    box = driver.switch_to.active_element
    assert box.get_attribute("id") == "q", "the search box is not reachable with the keyboard"
    outline = driver.execute_script("return getComputedStyle(document.activeElement).outlineWidth")
    assert outline not in ("0px", ""), "the focused search box has no visible focus style"
    ActionChains(driver).send_keys("binh dang gioi", Keys.ENTER).perform()
    wait_for(driver, lambda d: "q=binh" in d.current_url, "Enter did not submit the search")
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "ol.hits"), "no results list")

    found = {r["id"]: r for r in results(driver)}
    assert TTTD_ID in found, f"TTTĐ article not on the first page: {list(found)}"
    hit = found[TTTD_ID]
    assert hit["title"] == page["title"]
    assert "bình đẳng giới" in hit["marks"], hit["marks"]
    assert hit["section"].strip() == "Xã hội"
    assert "14/11/2022 12:48" in hit["meta"]
    summary = driver.find_element(By.ID, "summary").text
    assert summary.startswith("Tìm thấy ") and "binh dang gioi" in summary
    assert driver.find_element(By.ID, "q").get_attribute("value") == "binh dang gioi"
    screenshot(driver, shots / "desktop-results.png")
    width, viewport = no_horizontal_scroll(driver)
    assert width <= viewport, f"desktop page scrolls sideways: {width} > {viewport}"

    # 2. Narrow it down with the form: section and a date range, submitted from the keyboard.
    Select(driver.find_element(By.ID, "section")).select_by_visible_text("Xã hội")
    type_date(driver, driver.find_element(By.ID, "from"), "2022-11-01")
    type_date(driver, driver.find_element(By.ID, "to"), "2022-11-30")
    apply = driver.find_element(By.CSS_SELECTOR, "fieldset.filters button[type=submit]")
    driver.execute_script("arguments[0].focus()", apply)
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_for(driver, lambda d: "from=2022-11-01" in d.current_url, "the filter form was not submitted")
    params = parse_qs(urlsplit(driver.current_url).query)
    assert params["q"] == ["binh dang gioi"]
    assert params["section"] == ["Xã hội"]
    assert params["from"] == ["2022-11-01"] and params["to"] == ["2022-11-30"]
    filtered = results(driver)
    assert [r["id"] for r in filtered] == [TTTD_ID]
    assert "bình đẳng giới" in filtered[0]["marks"]
    assert Select(driver.find_element(By.ID, "section")).first_selected_option.text == "Xã hội"
    chips = driver.find_element(By.CSS_SELECTOR, ".chips").text
    assert "01/11/2022 – 30/11/2022" in chips
    screenshot(driver, shots / "desktop-filtered.png")

    # 3. A phone: same results page, no sideways scrolling, then the home page.
    unfiltered = server + "/?q=binh+dang+gioi"
    emulate(driver, PHONE)
    try:
        for url, name in ((unfiltered, "phone-results.png"), (driver.current_url, "phone-filtered.png")):
            load(driver, url)
            width, viewport = no_horizontal_scroll(driver)
            assert viewport == PHONE[0], f"phone emulation failed: viewport {viewport}"
            assert width <= viewport, f"{url} scrolls sideways on a phone: {width} > {viewport}"
            screenshot(driver, shots / name)
            driver.save_screenshot(str(shots / name.replace(".png", "-first-screen.png")))  # what shows first
        load(driver, server + "/")
        width, viewport = no_horizontal_scroll(driver)
        assert width <= viewport, f"home page scrolls sideways on a phone: {width} > {viewport}"
        screenshot(driver, shots / "phone-home.png")
        load(driver, server + "/articles/" + TTTD_ID)
        width, viewport = no_horizontal_scroll(driver)
        assert width <= viewport, f"article page scrolls sideways on a phone: {width} > {viewport}"
    finally:
        emulate(driver, None)
