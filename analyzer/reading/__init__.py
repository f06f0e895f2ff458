"""Stage 1, reading: log files in, events out.

In: Postfix and Exim logs as files, rotated and compressed ones, journald JSON and RFC 5424
streams (``sources.py``, ``journal.py``). Out: one row per line that a rule knew (``parse.py``:
the syslog header split cheaply, lines dispatched by program, each program's rules from
``patterns/`` run on its own lines only; ``stamps.py``: year-less stamps made instants), and
every line no rule knew counted by shape (``coverage.py``: what ``patterns check`` shows).
"""
