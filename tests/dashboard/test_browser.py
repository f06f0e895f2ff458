"""The dashboard in real headless Chromium (Debian's chromium + chromium-driver)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analyzer.config import DEMO_CONFIG, load_settings
from dashboard import ids
from dashboard.app import create_app

ARTEFACTS = Path(__file__).resolve().parent.parent.parent / "test-artefacts"

pytestmark = pytest.mark.e2e

if not shutil.which("chromedriver"):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs chromedriver: .ci/run installs chromium-driver")
    pytest.skip(
        "chromedriver not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )


def test_overview_loads_with_the_chart_and_no_console_errors(dash_duo):
    app = create_app(load_settings(DEMO_CONFIG, environ={}))
    dash_duo.driver.set_window_size(1280, 900)
    dash_duo.start_server(app)
    dash_duo.wait_for_element(f"#{ids.OVERVIEW_CLASS_CHART} .bars", timeout=20)
    assert len(dash_duo.find_elements(f"#{ids.OVERVIEW_CLASS_CHART} g.trace.bars")) == 3
    summary = dash_duo.find_element(f"#{ids.OVERVIEW_SUMMARY}").text
    assert "Authenticated:" in summary and "Spam probe:" in summary
    assert dash_duo.get_logs() == []
    ARTEFACTS.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(ARTEFACTS / "overview.png"))
