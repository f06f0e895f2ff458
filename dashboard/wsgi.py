"""WSGI entry for gunicorn: ``gunicorn dashboard.wsgi:server`` (config as for the CLI)."""

from analyzer.config import load_settings
from dashboard.app import create_app

server = create_app(load_settings()).server
