"""relaywatch's Dash dashboard: views of the analyzer's session table."""

import os

# Under a WSGI server (dashboard.wsgi) as under `relaywatch serve` (analyzer/__init__.py):
# Arrow allocates from malloc, so the memory a request freed goes back to the system.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
