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
from analyzer.settings.config import DEMO_CONFIG, load_settings
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
    "alerts": ("/alerts", ids.ALERTS_LIST),
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


def cells(duo, grid_id: str, column: str) -> list[str]:
    """The texts of ``column`` in ``grid_id``'s shown rows, top to bottom (ag-grid keeps
    its rows in any DOM order: ``row-index`` says where each is)."""
    for _ in range(50):
        try:
            rows = duo.driver.find_elements(
                By.CSS_SELECTOR, f"#{grid_id} .ag-center-cols-container .ag-row"
            )
            by_index = {
                int(row.get_attribute("row-index")): row.find_element(
                    By.CSS_SELECTOR, f".ag-cell[col-id={column}]"
                ).get_attribute("textContent")
                for row in rows
            }
            return [by_index[i] for i in sorted(by_index)]
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise AssertionError("the table never settled")


def first_row(duo, grid_id: str):
    return duo.find_element(f"#{grid_id} .ag-center-cols-container .ag-row[row-index='0']")


def wait_for_cells(duo, grid_id: str, column: str, expected, timeout: float = 20) -> list[str]:
    """``column``'s texts once ``expected`` (a function of them) holds."""
    deadline = time.monotonic() + timeout
    while True:
        shown = cells(duo, grid_id, column)
        if expected(shown) or time.monotonic() > deadline:
            return shown
        time.sleep(0.2)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_loads_without_console_errors(started, page):
    path, element = PAGES[page]
    started.wait_for_page(url=started.server_url + path, timeout=20)
    selector = f"#{element} .main-svg" if "chart" in element else f"#{element} .ag-cell"
    if element == ids.ALERTS_LIST:  # a plain table, or what says there is none
        selector = f"#{element} table, #{element} .empty"
    started.wait_for_element(selector, timeout=20)
    time.sleep(0.5)  # let late callbacks finish before reading the console
    assert started.get_logs() == [], started.get_logs()
    ARTEFACTS.mkdir(exist_ok=True)
    started.driver.save_screenshot(str(ARTEFACTS / f"{page}.png"))


def test_a_filter_changes_the_chart(started):
    started.wait_for_element(f"#{ids.OVERVIEW_CLASS_CHART} .bars path", timeout=20)
    before = bar_heights(started, ids.OVERVIEW_CLASS_CHART)
    assert legend(started, ids.OVERVIEW_CLASS_CHART) == [
        "Authenticated",
        "Inbound mail (no AUTH needed)",
        "Customer relay without AUTH",
        "Customer relay refused",
        "AUTH unavailable (ours)",
        "Spam probe",
    ]
    choose_option(started, ids.FILTER_CLASSES, "spam probe")
    for _ in range(40):
        if legend(started, ids.OVERVIEW_CLASS_CHART) == ["Spam probe"]:
            break
        time.sleep(0.1)
    assert legend(started, ids.OVERVIEW_CLASS_CHART) == ["Spam probe"]
    time.sleep(0.3)
    after = bar_heights(started, ids.OVERVIEW_CLASS_CHART)
    assert after != before and len(after) < len(before)  # one group left of six
    assert started.get_logs() == []


def test_a_csv_download_equals_the_export(started, settings):
    started.wait_for_page(url=started.server_url + "/customers", timeout=20)
    started.wait_for_element(f"#{ids.CUSTOMERS_TABLE} .ag-cell", timeout=20)
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
    started.wait_for_element(f"#{ids.SESSIONS_TABLE} .ag-cell", timeout=20)
    assert not started.driver.find_elements(By.CSS_SELECTOR, f"#{ids.SESSIONS_TABLE} .ag-cell img")


def test_risk_page_shows_levels_with_the_cracked_account_first(started):
    started.wait_for_page(url=started.server_url + "/risk", timeout=20)
    started.wait_for_element(f"#{ids.RISK_ACCOUNTS_TABLE} .ag-cell", timeout=20)
    accounts = cells(started, ids.RISK_ACCOUNTS_TABLE, "sasl_username")
    assert accounts[0] == "sales@bluebird-travel.example"
    levels = cells(started, ids.RISK_IPS_TABLE, "level")
    assert levels[:2] == ["high", "high"]  # both Postfix IPs drew blocklist refusals
    colour = first_row(started, ids.RISK_IPS_TABLE).value_of_css_property("background-color")
    assert colour == "rgba(253, 227, 200, 1)"  # the "high" colour of LEVEL_COLOURS
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
    cell = f"#{ids.SESSIONS_TABLE} .ag-cell[col-id=helo]"
    dash_duo.wait_for_element(cell, timeout=20)
    # off to the right of the page: read what the cell holds, seen or not
    assert wait_for_cells(dash_duo, ids.SESSIONS_TABLE, "helo", any) == [XSS_HELO]
    assert dash_duo.find_element(cell).get_attribute("title") == XSS_HELO  # its tooltip: text
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


def relayed(day: str, pid: int, queue_id: str) -> str:
    """A session of c002's office (198.18.1.33) relaying one message without AUTH."""
    return f"""\
Nov {day} 10:00:00 mail1 postfix/smtpd[{pid}]: connect from office[198.18.1.33]
Nov {day} 10:00:01 mail1 postfix/smtpd[{pid}]: {queue_id}: client=office[198.18.1.33]
Nov {day} 10:00:01 mail1 postfix/qmgr[300]: {queue_id}: from=<a@bluebird-travel.example>, \
size=900, nrcpt=1 (queue active)
Nov {day} 10:00:02 mail1 postfix/smtpd[{pid}]: disconnect from office[198.18.1.33] ehlo=1 \
mail=1 rcpt=1 data=1 quit=1 commands=5
Nov {day} 10:00:03 mail1 postfix/smtp[301]: {queue_id}: to=<friend@gmail.com>, \
relay=gmail-smtp-in.l.google.com[192.0.2.99]:25, delay=2, delays=0.5/0/0.5/1, dsn=2.0.0, \
status=sent (250 ok)
Nov {day} 10:00:03 mail1 postfix/qmgr[300]: {queue_id}: removed
"""


# c002 relays three times without AUTH before the date (at risk, more mail); c001 (Acme
# Dental) is refused once after it (broken): the call list names c001 first all the same.
CALL_LIST_LOG = (
    relayed("19", 201, "3A1B2C3D4E")
    + relayed("19", 202, "3A1B2C3D4F")
    + relayed("20", 203, "3A1B2C3D5A")
    + """\
Nov 21 09:00:00 mail1 postfix/smtpd[210]: connect from office[198.18.1.17]
Nov 21 09:00:01 mail1 postfix/smtpd[210]: NOQUEUE: reject: RCPT from office[198.18.1.17]: \
554 5.7.1 <bob@aol.com>: Relay access denied; from=<a@acme-dental.example> to=<bob@aol.com> \
proto=ESMTP helo=<office>
Nov 21 09:00:02 mail1 postfix/smtpd[210]: disconnect from office[198.18.1.17] ehlo=1 mail=1 \
rcpt=0/1 quit=1 commands=3/4
"""
)


def test_the_call_list_shows_the_broken_customer_first_with_what_broke(dash_duo, tmp_path):
    (tmp_path / "mail.log").write_text(CALL_LIST_LOG, encoding="utf-8")
    (tmp_path / "relaywatch.toml").write_text(
        f'logs = ["mail.log"]\ncustomers = "{DEMO_CONFIG.parent / "customers.csv"}"\n'
        'year = 2003\ntimezone = "America/New_York"\nenforcement_date = "2003-11-21"\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path / "relaywatch.toml", environ={})
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.start_server(create_app(settings, load_data(settings, dns=False)))
    dash_duo.wait_for_page(url=dash_duo.server_url + "/customers", timeout=20)
    dash_duo.wait_for_element(f"#{ids.CUSTOMERS_CALL_LIST} .ag-cell", timeout=20)

    def column(name: str) -> list[str]:
        return cells(dash_duo, ids.CUSTOMERS_CALL_LIST, name)

    assert column("customer_id") == ["c001", "c002"]
    assert column("status") == ["broken", "at_risk"]
    assert column("outbound") == ["1", "3"]  # urgency before volume
    assert column("contact_email")[0] == "office@acme-dental.example"
    assert column("last_refused") == ["2003-11-21T09:00:00-05:00", ""]
    assert column("last_refused_client_ip") == ["198.18.1.17", ""]
    assert column("last_refused_domain") == ["aol.com", ""]
    broken_row = first_row(dash_duo, ids.CUSTOMERS_CALL_LIST)
    assert broken_row.value_of_css_property("background-color") == "rgba(248, 208, 208, 1)"
    assert dash_duo.get_logs() == []


def test_the_accounts_table_fits_its_card(started):
    started.wait_for_page(url=started.server_url + "/risk", timeout=20)
    started.wait_for_element(f"#{ids.RISK_ACCOUNTS_TABLE} .ag-cell", timeout=20)
    time.sleep(0.5)  # let the columns settle to the card's width
    grid_width, card_width, scroll_width, view_width = started.driver.execute_script(
        """
        const grid = document.querySelector(arguments[0]);
        const card = grid.closest('.section');
        const style = getComputedStyle(card);
        const inner = card.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        const view = grid.querySelector('.ag-center-cols-viewport');
        return [grid.offsetWidth, inner, view.scrollWidth, view.clientWidth];
        """,
        f"#{ids.RISK_ACCOUNTS_TABLE}",
    )
    assert grid_width <= card_width, (grid_width, card_width)
    assert scroll_width <= view_width, (scroll_width, view_width)  # no horizontal scroll


def test_clicking_a_customer_shows_its_sessions_paged_on_the_server(started, data):
    started.wait_for_page(url=started.server_url + "/customers", timeout=20)
    started.wait_for_element(f"#{ids.CUSTOMERS_TABLE} .ag-cell", timeout=20)
    assert cells(started, ids.CUSTOMERS_DRILLDOWN, "client_ip") == []
    chosen = f"#{ids.CUSTOMERS_TABLE} .ag-row[row-index='1'] .ag-cell[col-id=name]"
    started.find_element(chosen).click()
    customer = cells(started, ids.CUSTOMERS_TABLE, "customer_id")[1]
    every = data.view.read("sessions")
    theirs = every[(every["customer_id"] == customer).fillna(False)]
    shown = wait_for_cells(started, ids.CUSTOMERS_DRILLDOWN, "start", lambda c: len(c) > 0)
    assert len(shown) == min(20, len(theirs)) and shown == sorted(shown)
    summary = started.find_element(f"#{ids.CUSTOMERS_DRILLDOWN} .ag-paging-row-summary-panel")
    assert summary.text.endswith(f"of {len(theirs)}")
    assert started.get_logs() == []


def test_a_filter_asks_the_server_for_new_rows(started, data):
    started.wait_for_page(url=started.server_url + "/sessions", timeout=20)
    started.wait_for_element(f"#{ids.SESSIONS_TABLE} .ag-cell", timeout=20)
    classes = wait_for_cells(started, ids.SESSIONS_TABLE, "class", lambda c: len(set(c)) > 1)
    assert len(set(classes)) > 1 and len(classes) == 20
    choose_option(started, ids.FILTER_CLASSES, "spam probe")
    shown = wait_for_cells(
        started, ids.SESSIONS_TABLE, "class", lambda c: c and set(c) == {"spam_probe"}
    )
    assert len(shown) == 20 and set(shown) == {"spam_probe"}
    probes = int((data.view.read("sessions")["class"] == "spam_probe").sum())
    started.wait_for_text_to_equal(f"#{ids.SESSIONS_COUNT}", f"{probes:,} sessions", timeout=20)
    # the next page is the next block's rows, asked of the server
    started.find_element(f"#{ids.SESSIONS_TABLE} .ag-paging-button[aria-label='Next Page']").click()
    summary = f"#{ids.SESSIONS_TABLE} .ag-paging-row-summary-panel"
    started.wait_for_text_to_equal(summary, f"21 to 40 of {probes:,}", timeout=20)
    assert started.get_logs() == []


def test_offenders_regroup_and_sort_on_the_server(started):
    started.wait_for_page(url=started.server_url + "/offenders", timeout=20)
    probes = wait_for_cells(started, ids.OFFENDERS_TABLE, "probe_sessions", any)
    assert [int(p) for p in probes] == sorted((int(p) for p in probes), reverse=True)
    started.find_element(f"#{ids.OFFENDERS_BY} input[value=network]").click()
    networks = wait_for_cells(started, ids.OFFENDERS_TABLE, "network", lambda c: any(c))
    assert networks[0].endswith("/24")
    assert not started.driver.find_elements(By.CSS_SELECTOR, f"#{ids.OFFENDERS_TABLE} [col-id=ip]")
    # a header click sorts all the networks on the server, as numbers: fewest probes first
    header = f"#{ids.OFFENDERS_TABLE} .ag-header-cell[col-id=probe_sessions] .ag-header-cell-label"
    started.find_element(header).click()
    fewest = wait_for_cells(
        started, ids.OFFENDERS_TABLE, "probe_sessions", lambda c: c and c[0] == "1"
    )
    assert [int(p) for p in fewest] == sorted(int(p) for p in fewest)
    assert started.get_logs() == []


def test_a_link_with_filters_opens_that_view(started, data):
    """A link from the mail or a colleague: the filter bar and the page's own choice come
    from the query string, and the address follows later changes."""
    query = "?since=2003-11-20&until=2003-11-21&servers=mail2&classes=spam_probe&by=network"
    started.wait_for_page(url=started.server_url + "/offenders" + query, timeout=20)
    started.wait_for_text_to_equal(
        f"#{ids.OFFENDERS_CHART} .gtitle", "Top sources by network (/24, /48)", timeout=20
    )
    start = started.find_element(f"#{ids.FILTER_DATES}")  # Dash 4: the start input itself
    end = started.find_element(".dash-datepicker-end-date")
    assert (start.get_attribute("value"), end.get_attribute("value")) == (
        "2003-11-20",
        "2003-11-21",
    )
    assert "mail2" in started.find_element(f"#{ids.FILTER_SERVERS}").text
    checked = started.find_element(f"#{ids.OFFENDERS_BY} input:checked")
    assert checked.get_attribute("value") == "network"
    # the table holds the networks of mail2's probes on those two days only
    every = data.view.read("sessions")
    local = every["start"].dt.tz_convert("America/New_York").dt.date.astype(str)
    probes = every[
        (every["server"] == "mail2").to_numpy()
        & (every["class"] == "spam_probe").to_numpy()
        & local.between("2003-11-20", "2003-11-21").to_numpy()
        & ~every["customer_ip"].to_numpy()
    ]
    shown = wait_for_cells(started, ids.OFFENDERS_TABLE, "network", lambda c: len(c) > 0)
    networks = {".".join(ip.split(".")[:3]) + ".0/24" for ip in probes["client_ip"]}
    assert set(shown) <= networks and len(shown) == min(len(networks), 20)  # a page of 20
    # the address follows the page's choices
    started.find_element(f"#{ids.OFFENDERS_BY} input[value=asn]").click()
    deadline = time.monotonic() + 10
    while "by=asn" not in started.driver.current_url and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "by=asn" in started.driver.current_url
    assert "servers=mail2" in started.driver.current_url


def test_the_alerts_page_lists_alerts_with_links_to_their_evidence(dash_duo, tmp_path):
    """Alerts as `relaywatch alerts` remembers them (an account's volume alert still active,
    a listing cleared): active first, each linking to its evidence over its days."""
    import pandas as pd

    from analyzer.judgements import alerts as rules
    from analyzer.store import alerts as stored
    from tests.conftest import ingested_sample

    settings = ingested_sample(tmp_path / "sample")
    account = "sales@bluebird-travel.example"

    def condition(key: str, rule: str, subject: str, link: str) -> dict:
        return {
            rules.KEY: key, rules.RULE: rule, rules.SUBJECT: subject,
            rules.SUMMARY: f"{subject} summary", rules.EVIDENCE: f"{subject} evidence",
            rules.ACTION: "act", rules.LINK: link,
        }  # fmt: skip

    volume = condition(f"volume:{account}", rules.VOLUME, account, f"sessions?q={account}")
    listing = condition("dnsbl_listing:192.0.2.10:bl.test", rules.LISTED, "192.0.2.10", "risk")
    cooldown = pd.Timedelta(hours=6)
    _, state = rules.evaluate(
        pd.DataFrame([volume, listing]), rules.empty_state(),
        pd.Timestamp("2003-11-26T03:54:31Z"), cooldown,
    )  # fmt: skip
    _, state = rules.evaluate(
        pd.DataFrame([volume]), state, pd.Timestamp("2003-11-26T06:00:00Z"), cooldown
    )
    stored.write_state(settings.store, state, 0o600)
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.start_server(create_app(settings, load_data(settings, dns=False)))
    dash_duo.wait_for_page(url=dash_duo.server_url + "/alerts", timeout=20)
    dash_duo.wait_for_element(f"#{ids.ALERTS_LIST} table.alerts tbody tr", timeout=20)
    rows = dash_duo.find_elements(f"#{ids.ALERTS_LIST} tbody tr")
    assert [r.get_attribute("data-key") for r in rows] == [volume[rules.KEY], listing[rules.KEY]]
    texts = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert texts[0][:4] == [
        "active", "volume spike", f"{account} summary\n{account} evidence",
        "2003-11-25T22:54:31-05:00",
    ]  # fmt: skip
    assert texts[1][0] == "cleared 2003-11-26T01:00:00-05:00"
    link = rows[0].find_element(By.TAG_NAME, "a")
    assert link.get_attribute("href") == (
        f"{dash_duo.server_url}/sessions?since=2003-11-25&until=2003-11-26"
        "&q=sales%40bluebird-travel.example"
    )
    # a period without them: none shown
    dash_duo.wait_for_page(url=dash_duo.server_url + "/alerts?since=2003-12-01", timeout=20)
    dash_duo.wait_for_contains_text(
        f"#{ids.ALERTS_LIST} .empty", "No alert in this period", timeout=20
    )
    # the link opens the account's sessions on those days
    dash_duo.wait_for_page(url=dash_duo.server_url + "/alerts", timeout=20)
    dash_duo.wait_for_element(f"#{ids.ALERTS_LIST} tbody tr a", timeout=20).click()
    every = load_data(settings, dns=False).view.read("sessions")
    local = every["start"].dt.tz_convert("America/New_York").dt.date.astype(str)
    theirs = every[
        (every["sasl_username"] == account).fillna(False).to_numpy()
        & local.between("2003-11-25", "2003-11-26").to_numpy()
    ]
    assert len(theirs) > 0
    dash_duo.wait_for_text_to_equal(f"#{ids.SESSIONS_COUNT}", f"{len(theirs):,} sessions", 20)
    shown = wait_for_cells(
        dash_duo, ids.SESSIONS_TABLE, "sasl_username", lambda c: set(c) == {account}
    )
    assert len(shown) == min(20, len(theirs))
    assert dash_duo.find_element(f"#{ids.SESSIONS_SEARCH}").get_attribute("value") == account
    assert dash_duo.get_logs() == []
