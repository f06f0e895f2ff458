"""WSGI entry for gunicorn: ``gunicorn dashboard.wsgi:server`` (config as for the CLI).

It refuses, at import, what ``relaywatch serve`` refuses: a ``[dashboard] host`` beyond
loopback with neither ``[dashboard.users]`` nor ``behind_proxy = true`` (gunicorn then stops:
"Worker failed to boot"). Bind gunicorn where ``host`` says. Whatever it is bound to, a
dashboard without users and without a proxy answers loopback clients only.
"""

from analyzer.settings.config import load_settings
from dashboard.app import create_app
from dashboard.auth import check_exposure

settings = load_settings()
check_exposure(settings.dashboard.host, settings.dashboard.users, settings.dashboard.behind_proxy)
server = create_app(settings).server
