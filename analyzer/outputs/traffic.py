"""Sessions -> the groups charts and summaries show: the class, with ``unauthenticated`` split
by reason, and one label and one colour per group (the dashboard and the mail share them).

"Unauthenticated" alone mixes the harmless with the urgent: inbound mail to a customer needs
no AUTH, a customer's relay without AUTH will break (or was refused: it broke), and an AUTH
outage is our own fault. Shown as one colour, inbound mail hides the relays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analyzer import schema as s

TRAFFIC = "traffic"  # the column ``traffic_groups`` fills
# Stacking order, bottom to top: good, harmless, then the warnings, then the attacks.
GROUPS: tuple[str, ...] = (
    s.AUTHENTICATED,
    s.R_INBOUND,
    s.R_RELAY,
    s.R_RELAY_DENIED,
    s.R_AUTH_UNAVAILABLE,
    s.SPAM_PROBE,
)
UNAUTHENTICATED_GROUPS: tuple[str, ...] = (
    s.R_INBOUND,
    s.R_RELAY,
    s.R_RELAY_DENIED,
    s.R_AUTH_UNAVAILABLE,
)
LABELS = {
    s.AUTHENTICATED: "Authenticated",
    s.R_INBOUND: "Inbound mail (no AUTH needed)",
    s.R_RELAY: "Customer relay without AUTH",
    s.R_RELAY_DENIED: "Customer relay refused",
    s.R_AUTH_UNAVAILABLE: "AUTH unavailable (ours)",
    s.SPAM_PROBE: "Spam probe",
}
# What each group means for the reader (hover texts, the mail).
MEANINGS = {
    s.AUTHENTICATED: "logged in: ready",
    s.R_INBOUND: "mail to our customers: harmless",
    s.R_RELAY: "a customer's client sends without AUTH: it will break",
    s.R_RELAY_DENIED: "a customer's client was refused: it broke",
    s.R_AUTH_UNAVAILABLE: "our AUTH service failed during the session",
    s.SPAM_PROBE: "attacks and scans",
}
# Neutral blue-grey for the harmless, amber and orange for the customers' problems.
COLORS = {
    s.AUTHENTICATED: "#2e7d32",
    s.R_INBOUND: "#7f9cbf",
    s.R_RELAY: "#f9a825",
    s.R_RELAY_DENIED: "#ef6c00",
    s.R_AUTH_UNAVAILABLE: "#6d4c41",
    s.SPAM_PROBE: "#c62828",
}


def traffic_groups(sessions: pd.DataFrame) -> pd.Series:
    """The group of each session: its class, or for ``unauthenticated`` its reason.

    Requires: ``class``, ``reason``.
    """
    unauthenticated = (sessions[s.CLASS] == s.UNAUTHENTICATED).to_numpy()
    group = np.where(
        unauthenticated, sessions[s.REASON].astype(object), sessions[s.CLASS].astype(object)
    )
    return pd.Series(group, index=sessions.index, name=TRAFFIC, dtype=object)
