"""Every component id of the dashboard, named "<page>-<thing>" (never built by concatenation)."""

OVERVIEW_CLASS_CHART = "overview-class-chart"
OVERVIEW_SUMMARY = "overview-summary"
OVERVIEW_EMPTY = "overview-empty"
