"""Stage 5, outputs: what users get.

In: sessions and the tables of ``analyzer.store`` (or of ``analyzer.judgements`` in memory).
Out: CSV exports (``exports.py``), the nightly summary and its mail (``report.py``,
``templates/``, sent over SMTP with STARTTLS and AUTH or spooled by ``mailer.py``), the chart
groups the dashboard and the mail share (``traffic.py``), and the starter config and
customers file of ``relaywatch init`` (``starter.py``).
"""
