"""Settings, read by every stage.

In: ``relaywatch.toml`` (or no file: this machine's defaults) and command-line overrides.
Out: the frozen ``Settings`` (``config.py``), one-line errors for bad single values (dates,
CIDRs, ports: ``values.py``), and what a run says about settings the user did not give
(``notices.py``). Imports nothing of the stages above it.
"""
