"""Stage 2, sessions: events in, SMTP sessions and messages out.

In: the events of ``analyzer.reading``. Out: one row per SMTP session with its client, login,
recipients and refusals (``build.py``; ``exim.py`` for Exim's two shapes, ``runs.py`` numbers a
pid's connections), the queue's messages and deliveries (``messages.py``), and the lines of
sessions still open at a chunk's edge, carried to the next chunk (``carry.py``).
"""
