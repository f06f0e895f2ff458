"""The dashboard in real headless Chromium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from analyzer import jobs
from analyzer.config import DEMO_CONFIG, load_settings
from dashboard import ids
from dashboard.app import create_app
from dashboard.data import load_data

ARTEFACTS = Path(__file__).resolve().parent.parent.parent / "test-artefacts"
PAGES = {
    "overview": ("/", ids.OVERVIEW_CLASS_CHART),
    "relays": ("/relays", ids.RELAYS_CHART),
    "customers": ("/customers", ids.CUSTOMERS_READINESS_CHART),
    "offenders": ("/offenders", ids.OFFENDERS_CHART),
    "sessions": ("/sessions", ids.SESSIONS_TABLE),
    "risk": ("/risk", ids.RISK_DELIVERY_CHART),
}

pytestmark = pytest.mark.e2e

if not shutil.which("chromedriver"):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromedriver: .ci/run installs chromium-driver")
    pytest.skip(
        "chromedriver not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def settings():
    return load_settings(DEMO_CONFIG, environ={})


@pytest.fixture(scope="module")
def data(settings):
    return load_data(settings, dns=False)


@pytest.fixture
def started(dash_duo, settings, data):
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.start_server(create_app(settings, data))
    return dash_duo


def bar_heights(duo, graph_id: str) -> list[str]:
    """The bars' SVG paths, read again if the chart re-renders while we read it."""
    for _ in range(50):
        try:
            return [bar.get_attribute("d") for bar in duo.find_elements(f"#{graph_id} .bars path")]
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the chart never settled")


def choose_option(duo, dropdown_id: str, text: str) -> None:
    """Open a Dash 4 dropdown and click the option showing ``text``."""
    duo.find_element(f"#{dropdown_id}").click()
    for option in duo.driver.find_elements(By.CSS_SELECTOR, "[role=option]"):
        if option.text == text:
            option.click()
            break
    else:
        raise AssertionError(f"no option {text!r} in #{dropdown_id}")
    duo.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)


def legend(duo, graph_id: str) -> list[str]:
    for _ in range(50):
        try:
            return [e.text for e in duo.find_elements(f"#{graph_id} .legendtext")]
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the chart never settled")


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_loads_without_console_errors(started, page):
    path, element = PAGES[page]
    started.wait_for_page(url=started.server_url + path, timeout=20)
    selector = f"#{element} .main-svg" if "chart" in element else f"#{element} td"
    started.wait_for_element(selector, timeout=20)
    time.sleep(0.5)  # let late callbacks finish before reading the console
    assert started.get_logs() == [], started.get_logs()
    ARTEFACTS.mkdir(exist_ok=True)
    started.driver.save_screenshot(str(ARTEFACTS / f"{page}.png"))


def test_a_filter_changes_the_chart(started):
    started.wait_for_element(f"#{ids.OVERVIEW_CLASS_CHART} .bars path", timeout=20)
    before = bar_heights(started, ids.OVERVIEW_CLASS_CHART)
    assert legend(started, ids.OVERVIEW_CLASS_CHART) == [
        "Spam probe",
        "Unauthenticated",
        "Authenticated",
    ]
    choose_option(started, ids.FILTER_CLASSES, "spam probe")
    for _ in range(40):
        if legend(started, ids.OVERVIEW_CLASS_CHART) == ["Spam probe"]:
            break
        time.sleep(0.1)
    assert legend(started, ids.OVERVIEW_CLASS_CHART) == ["Spam probe"]
    time.sleep(0.3)
    after = bar_heights(started, ids.OVERVIEW_CLASS_CHART)
    assert after != before and len(after) < len(before)  # one class left of three
    assert started.get_logs() == []


def test_a_csv_download_equals_the_export(started, settings):
    started.wait_for_page(url=started.server_url + "/customers", timeout=20)
    started.wait_for_element(f"#{ids.CUSTOMERS_TABLE} td", timeout=20)
    started.find_element(f"#{ids.CUSTOMERS_BUTTON}").click()
    target = Path(started.download_path) / "customers.csv"
    for _ in range(100):
        if target.is_file() and target.stat().st_size:
            break
        time.sleep(0.1)
    expected, _ = jobs.export("customers", settings, (), jobs.ExportOptions())
    assert target.read_text(encoding="utf-8") == expected


def test_attacker_text_shows_as_text(started, data):
    # HELO names come from the internet; the sessions table renders them as text
    started.wait_for_page(url=started.server_url + "/sessions", timeout=20)
    started.wait_for_element(f"#{ids.SESSIONS_TABLE} td", timeout=20)
    assert not started.driver.find_elements(By.CSS_SELECTOR, f"#{ids.SESSIONS_TABLE} td img")


def test_risk_page_shows_levels_with_the_cracked_account_first(started):
    started.wait_for_page(url=started.server_url + "/risk", timeout=20)
    started.wait_for_element(f"#{ids.RISK_ACCOUNTS_TABLE} td", timeout=20)
    first_account = started.find_element(
        f"#{ids.RISK_ACCOUNTS_TABLE} tbody tr:nth-child(2) td[data-dash-column=sasl_username]"
    )
    assert first_account.text == "sales@bluebird-travel.example"
    levels = [
        cell.text
        for cell in started.find_elements(f"#{ids.RISK_IPS_TABLE} td[data-dash-column=level]")
    ]
    assert levels[:2] == ["high", "high"]  # both Postfix IPs drew blocklist refusals
    colour = started.find_element(
        f"#{ids.RISK_IPS_TABLE} td[data-dash-column=level]"
    ).value_of_css_property("background-color")
    assert colour == "rgba(253, 227, 200, 1)"  # the "high" colour of LEVEL_STYLE
    assert started.get_logs() == []


XSS_HELO = "<img src=x onerror=alert(1)>"
XSS_LOG = f"""\
Nov 21 09:00:00 mail1 postfix/smtpd[100]: connect from unknown[100.64.7.7]
Nov 21 09:00:01 mail1 postfix/smtpd[100]: NOQUEUE: reject: RCPT from unknown[100.64.7.7]: \
554 5.7.1 <x@aol.com>: Relay access denied; from=<a@b.example> to=<x@aol.com> proto=ESMTP \
helo=<{XSS_HELO}>
Nov 21 09:00:02 mail1 postfix/smtpd[100]: disconnect from unknown[100.64.7.7]
"""


def test_an_attackers_helo_is_shown_as_text(dash_duo, tmp_path):
    (tmp_path / "mail.log").write_text(XSS_LOG, encoding="utf-8")
    (tmp_path / "relaywatch.toml").write_text(
        f'logs = ["mail.log"]\ncustomers = "{DEMO_CONFIG.parent / "customers.csv"}"\n'
        'year = 2003\nenforcement_date = "2003-11-21"\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "relaywatch.toml", environ={})
    dash_duo.start_server(create_app(settings, load_data(settings, dns=False)))
    dash_duo.wait_for_page(url=dash_duo.server_url + "/sessions", timeout=20)
    cell = f"#{ids.SESSIONS_TABLE} td[data-dash-column=helo]"
    dash_duo.wait_for_element(cell, timeout=20)
    assert dash_duo.find_element(cell).text == XSS_HELO
    assert dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#{ids.SESSIONS_TABLE} img") == []
    time.sleep(0.5)
    assert dash_duo.driver.execute_script("return document.querySelectorAll('img').length") == 0
    assert dash_duo.get_logs() == []  # no alert, no script error


def test_settings_that_were_not_configured_are_said_on_every_page(dash_duo, tmp_path):
    from tests.test_starter import OWN_LOG

    (tmp_path / "mail.log").write_text(OWN_LOG, encoding="utf-8")
    (tmp_path / "relaywatch.toml").write_text('logs = ["mail.log"]\n', encoding="utf-8")
    settings = load_settings(tmp_path / "relaywatch.toml", environ={"TZ": "Asia/Tokyo"})
    dash_duo.start_server(create_app(settings, load_data(settings, dns=False)))
    for path in ("/", "/customers"):
        dash_duo.wait_for_page(url=dash_duo.server_url + path, timeout=20)
        dash_duo.wait_for_element(f"#{ids.SETTINGS_NOTES}", timeout=20)
        notes = dash_duo.find_element(f"#{ids.SETTINGS_NOTES}").text.splitlines()
        assert notes == [
            "Time zone Asia/Tokyo: this machine's (`timezone` not set).",
            "No enforcement date (`enforcement_date` not set): every session counts as before it.",
            "No customers (`customers` not set or empty): sessions are not attributed, so "
            "readiness, statuses and the call list are empty.",
            "Local domains inferred from the logs' local deliveries (`local_domains` not set): "
            "ourmail.example.",
        ]


def test_the_demo_config_needs_no_settings_notes(started):
    started.wait_for_element(f"#{ids.OVERVIEW_CLASS_CHART}", timeout=20)
    assert not started.find_element(f"#{ids.SETTINGS_NOTES}").is_displayed()
