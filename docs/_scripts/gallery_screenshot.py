"""Draw ``docs/gallery.png``: the gallery of ``nanobanana demo``, in headless Chromium.

Runs the demo (offline: the bundled fake API) into a temporary folder, opens the
``index.html`` it writes and saves a screenshot of the browser window. Needs Chromium,
chromedriver and Selenium (the dev extra). From the repository root::

    python docs/_scripts/gallery_screenshot.py [--out docs/gallery.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver

DOCS = Path(__file__).resolve().parent.parent
WINDOW = (1280, 860)


def screenshot(page: Path, target: Path) -> None:
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise SystemExit("needs chromium and chromedriver on the PATH")
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    options.add_argument("--force-prefers-color-scheme=light")
    options.binary_location = chromium
    driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    try:
        driver.get(page.as_uri())
        # Every thumbnail on screen decoded before the picture is taken.
        driver.execute_async_script(
            "const done = arguments[0];"
            "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
            ".then(() => requestAnimationFrame(() => requestAnimationFrame(done)));"
        )
        driver.save_screenshot(str(target))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DOCS / "gallery.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nb-gallery-shot-") as tmp:
        out = Path(tmp) / "nanobanana-demo"
        command = [sys.executable, "-m", "nanobanana", "demo", "-o", str(out), "-q"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        screenshot(out / "index.html", args.out)
    print(args.out)


if __name__ == "__main__":
    main()
