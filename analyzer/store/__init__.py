"""Stage 4, the store: what was judged, kept on disk and read back by day.

In: log files (``ingest.py`` reads what is new, a chunk at a time: ``reads.py`` knows files
by identity, ``chunks.py`` parses and judges a chunk, ``parallel.py`` spreads ranges over
helper processes). Out: the Parquet store (``parquet.py``: atomic commits), its derived tables
and the accounts judged at a commit (``views.py``, ``judged.py``), read back by period,
server and column (``queries.py``: the View protocol; ``tables.py``: the customers,
offenders, accounts and risk tables every output draws; ``stored.py``: the whole analysis).
``files.py`` sets the owner-only modes of everything relaywatch writes.
"""
