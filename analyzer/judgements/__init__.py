"""Stage 3, judgements: sessions in, what an admin acts on out.

In: the sessions and deliveries of ``analyzer.sessions``, the customers CSV and the ASN
database (``customers.py``, ``asn.py``: each with its file reader beside its pure part).
Out: each session's customer, class and reason (``classify.py``: the ordered decision table),
daily counts that add up (``rollups.py``), customers' readiness and the call list
(``readiness.py``), probe sources and what to block (``offenders.py``, ``blocklist.py``),
accounts' and own IPs' blacklist risk (``risk.py``, ``blame.py``, live DNSBL: ``dnsbl.py``).
``pipeline.py`` is the whole chain in memory: lines -> events -> sessions -> classes.
"""
