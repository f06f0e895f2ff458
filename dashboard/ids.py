"""Every component id of the dashboard, named "<page>-<thing>" (never built by concatenation)."""

# app shell: the shared filter bar and its store
FILTERS = "app-filters"
SETTINGS_NOTES = "app-settings-notes"
FILTER_DATES = "app-filter-dates"
FILTER_SERVERS = "app-filter-servers"
FILTER_CLASSES = "app-filter-classes"
FILTER_CUSTOMERS = "app-filter-customers"
FILTER_RESET = "app-filter-reset"
URL = "app-url"  # the address: filters and a page's choices (dashboard.links)
URL_SYNC = "app-url-sync"  # output of the clientside callback that writes the address

OVERVIEW_CLASS_CHART = "overview-class-chart"
OVERVIEW_CARDS = "overview-cards"
OVERVIEW_EMPTY = "overview-empty"

RELAYS_CHART = "relays-chart"
RELAYS_SENDERS = "relays-senders"
RELAYS_TARGETS = "relays-targets"
RELAYS_SENDERS_DOWNLOAD = "relays-senders-download"
RELAYS_SENDERS_BUTTON = "relays-senders-button"

CUSTOMERS_READINESS_CHART = "customers-readiness-chart"
CUSTOMERS_TREND_CHART = "customers-trend-chart"
CUSTOMERS_TABLE = "customers-table"
CUSTOMERS_DOWNLOAD = "customers-download"
CUSTOMERS_BUTTON = "customers-button"
CUSTOMERS_DRILLDOWN = "customers-drilldown"
CUSTOMERS_CALL_LIST = "customers-call-list"
CUSTOMERS_CALL_LIST_BUTTON = "customers-call-list-button"
CUSTOMERS_CALL_LIST_DOWNLOAD = "customers-call-list-download"

OFFENDERS_BY = "offenders-by"
OFFENDERS_CHART = "offenders-chart"
OFFENDERS_REASONS_CHART = "offenders-reasons-chart"
OFFENDERS_TABLE = "offenders-table"
OFFENDERS_DOWNLOAD = "offenders-download"
OFFENDERS_BUTTON = "offenders-button"
OFFENDERS_BLOCKLIST_FORMAT = "offenders-blocklist-format"
OFFENDERS_BLOCKLIST_BUTTON = "offenders-blocklist-button"
OFFENDERS_BLOCKLIST_DOWNLOAD = "offenders-blocklist-download"

SESSIONS_TABLE = "sessions-table"
SESSIONS_SEARCH = "sessions-search"
SESSIONS_COUNT = "sessions-count"
SESSIONS_BUTTON = "sessions-button"

RISK_SERVERS_TABLE = "risk-servers-table"
RISK_DELIVERY_CHART = "risk-delivery-chart"
RISK_ACCOUNTS_TABLE = "risk-accounts-table"
RISK_IPS_TABLE = "risk-ips-table"
RISK_DNSBL_NOTES = "risk-dnsbl-notes"
RISK_IPS_BUTTON = "risk-ips-button"
RISK_IPS_DOWNLOAD = "risk-ips-download"
RISK_ACCOUNTS_BUTTON = "risk-accounts-button"
RISK_ACCOUNTS_DOWNLOAD = "risk-accounts-download"

ALERTS_LIST = "alerts-list"
