"""Accounts to lock: the SASL logins at high or critical risk as a deny list an admin loads
at once (``relaywatch export accounts --format deny-list|postfix``, and the alerts' action).

Two forms, each one login a line after a ``#`` line with its evidence:

- ``deny-list``: a Dovecot deny passdb (``passdb { driver = passwd-file; args =
  /etc/dovecot/deny-users; deny = yes }``): "one username per line", ``#`` lines ignored.
  Dovecot is the SASL server of most Postfix installs, and Exim's ``dovecot`` authenticator.
- ``postfix``: a ``check_sasl_access`` table (Postfix 2.11 and later): the login, then
  ``REJECT`` and why.
"""

from __future__ import annotations

import re

import pandas as pd

from analyzer import schema as s

LOCKED_LEVELS = ("critical", "high")
DENY_FORMATS = ("deny-list", "postfix")
# A login either file can hold on one line as a key: no white space, no control character,
# no ':' (passwd-file's separator), not starting with '#' (a comment). Others are named in a
# comment, to lock by hand.
SAFE_LOGIN = re.compile(r"[^\s:#\x00-\x1f\x7f][^\s:\x00-\x1f\x7f]*")
DOVECOT_HELP = (
    "Dovecot: passdb { driver = passwd-file; args = /etc/dovecot/deny-users; deny = yes } "
    "before the other passdbs; this file is /etc/dovecot/deny-users"
)
POSTFIX_HELP = (
    "main.cf: smtpd_recipient_restrictions = check_sasl_access "
    "hash:/etc/postfix/relaywatch_sasl_deny, permit_sasl_authenticated, ... (before "
    "permit_sasl_authenticated); then postmap this file"
)


def accounts_to_lock(accounts: pd.DataFrame) -> pd.DataFrame:
    """The accounts export's rows at a locked level, the riskiest first."""
    chosen = accounts[accounts["level"].isin(LOCKED_LEVELS).to_numpy()]
    return chosen.sort_values(["risk_score", s.SASL_USERNAME], ascending=[False, True])


def _evidence(row: pd.Series) -> str:
    flags = str(row["flags"] or "") if pd.notna(row["flags"]) else ""
    return (
        f"risk {int(row['risk_score'])} ({row['level']}): {flags or 'no flag'}; "
        f"{int(row[s.RECIPIENTS]):,} recipients, {int(row['distinct_asns'])} ASNs"
    )


def deny_list_text(accounts: pd.DataFrame, fmt: str) -> str:
    """The deny list of ``accounts`` (the accounts export) in ``fmt`` (``DENY_FORMATS``)."""
    chosen = accounts_to_lock(accounts)
    head = (
        f"# relaywatch deny list: {len(chosen)} SASL account(s) at high or critical risk "
        "(relaywatch export accounts); reset each password before you unlock it\n"
        f"# {DOVECOT_HELP if fmt == 'deny-list' else POSTFIX_HELP}\n"
    )
    lines = []
    for _, row in chosen.iterrows():  # a few accounts: never a hot path
        login = str(row[s.SASL_USERNAME])
        if not SAFE_LOGIN.fullmatch(login):
            lines.append(f"# not listed (lock it by hand): {login!r}: {_evidence(row)}\n")
            continue
        lines.append(f"# {_evidence(row)}\n")
        lines.append(
            f"{login}\n"
            if fmt == "deny-list"
            else f"{login}\tREJECT relaywatch: account locked, risk {int(row['risk_score'])}\n"
        )
    return head + "".join(lines)
