"""A real headless Chromium for the page tests: Debian's `chromium` and `chromedriver`
(installed by scripts/ensure-chromium when missing), driven by selenium. Also what the tests
read back: the page's requests and console errors from Chrome's logs, and whether boxes of a
colour are drawn along given edges of a screenshot."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = Path(__file__).resolve().parents[1]
ENSURE_CHROMIUM = REPO / "scripts" / "ensure-chromium"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # root in CI and on developers' machines here: no user namespace sandbox
    "--disable-background-networking",  # no calls home: the network check sees the page only
    "--disable-component-update",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--force-device-scale-factor=1",  # screenshot pixels = CSS pixels
    "--window-size=1280,1800",
)


@dataclass(frozen=True)
class Chromium:
    browser: Path
    driver: Path


def ensure_chromium() -> Chromium:
    done = subprocess.run(
        [str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, f"scripts/ensure-chromium failed:\n{done.stderr}"
    browser, driver = done.stdout.split()
    return Chromium(Path(browser), Path(driver))


@contextmanager
def headless(chromium: Chromium, log_dir: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium.browser)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # The driver's path given: selenium-manager (which downloads drivers) is never run.
    service = Service(str(chromium.driver), log_output=str(log_dir / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the page asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def foreign(urls: Sequence[str]) -> list[str]:
    """The URLs that left this machine's 127.0.0.1 (data: URLs never leave the page)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme != "data" and urlsplit(url).hostname != "127.0.0.1"
    ]


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Errors of the console since the last call: script errors, CSP violations, failed loads."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def colour_mask(shot: Image.Image, colour: str, tolerance: int = 90) -> np.ndarray:
    """Where the screenshot has `colour` ("#rrggbb"), give or take anti-aliasing."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    pixels = np.asarray(shot.convert("RGB")).astype(int)
    mask: np.ndarray = np.abs(pixels - target).sum(axis=2) < tolerance
    return mask


def edge_coverage(mask: np.ndarray, box: Sequence[float], scale: float, reach: int = 3) -> float:
    """The share of points along the four edges of `box` (x1, y1, x2, y2 in the photo's
    pixels; `scale` from photo to screenshot) with the mask set within `reach` pixels."""
    height, width = mask.shape
    x1, y1, x2, y2 = (round(v * scale) for v in box)
    points = [(x, y) for x in range(x1, x2 + 1, 3) for y in (y1, y2)]
    points += [(x, y) for y in range(y1, y2 + 1, 3) for x in (x1, x2)]
    hits = 0
    for x, y in points:
        cx, cy = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
        hits += bool(
            mask[max(cy - reach, 0) : cy + reach + 1, max(cx - reach, 0) : cx + reach + 1].any()
        )
    return hits / len(points)
