"""Screenshots of the dashboard's pages on the bundled sample, for the README.

    python docs/screenshots/take.py            # writes docs/screenshots/*.png

Starts ``relaywatch serve --no-dns`` on 127.0.0.1 with the demo config, opens each page in
headless Chromium (Debian's chromium + chromium-driver) and saves the whole page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

HERE = Path(__file__).resolve().parent
PAGES = {"overview": "/", "customers": "/customers", "risk": "/risk", "offenders": "/offenders"}
WIDTH = 1400


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RELAYWATCH_CONFIG"}
    server = subprocess.Popen(
        [sys.executable, "-m", "analyzer", "serve", "--no-dns", "--port", str(port)],
        cwd=HERE.parent.parent,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},900"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    browser = webdriver.Chrome(options=options)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        for name, path in PAGES.items():
            browser.get(f"http://127.0.0.1:{port}{path}")
            WebDriverWait(browser, 30).until(
                ready.presence_of_element_located(
                    (By.CSS_SELECTOR, ".js-plotly-plot .bars, .ag-row, .card")
                )
            )
            time.sleep(3)  # every callback of the page answered and drew
            height = browser.execute_script("return document.body.scrollHeight")
            browser.set_window_size(WIDTH, height + 100)
            time.sleep(1)
            browser.save_screenshot(str(HERE / f"{name}.png"))
            print(HERE / f"{name}.png")
            browser.set_window_size(WIDTH, 900)
    finally:
        browser.quit()
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
