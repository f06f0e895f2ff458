"""The deny list of accounts to lock: which accounts, in which form, and what never becomes
a key (a login an attacker could shape into a second line or a comment)."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from analyzer.cli import cli
from analyzer.judgements.lockout import accounts_to_lock, deny_list_text
from analyzer.settings.config import DEMO_CONFIG


def accounts(*rows: tuple[str, int, str, str]) -> pd.DataFrame:
    """(login, risk score, level, flags) of the accounts export."""
    return pd.DataFrame(
        {
            "sasl_username": [r[0] for r in rows],
            "risk_score": [r[1] for r in rows],
            "level": [r[2] for r in rows],
            "flags": [r[3] for r in rows],
            "recipients": [1200] * len(rows),
            "distinct_asns": [4] * len(rows),
        }
    )


ROWS = accounts(
    ("office@a.example", 10, "low", ""),
    ("sales@b.example", 60, "high", "volume_spike;new_networks"),
    ("info@c.example", 85, "critical", "cracked;volume_spike"),
    ("web@d.example", 35, "medium", "many_networks"),
)


def test_high_and_critical_accounts_are_locked_riskiest_first():
    chosen = accounts_to_lock(ROWS)["sasl_username"].tolist()
    assert chosen == ["info@c.example", "sales@b.example"]


def test_the_dovecot_deny_list_is_one_login_a_line_after_its_evidence():
    lines = deny_list_text(ROWS, "deny-list").splitlines()
    assert lines[0].startswith("# relaywatch deny list: 2 SASL account(s) at high or critical")
    assert "args = /etc/dovecot/deny-users; deny = yes" in lines[1]
    assert lines[2:] == [
        "# risk 85 (critical): cracked;volume_spike; 1,200 recipients, 4 ASNs",
        "info@c.example",
        "# risk 60 (high): volume_spike;new_networks; 1,200 recipients, 4 ASNs",
        "sales@b.example",
    ]
    # what Dovecot reads of it: the lines that are not comments
    assert [x for x in lines if x and not x.startswith("#")] == [
        "info@c.example",
        "sales@b.example",
    ]


def test_the_postfix_form_is_a_check_sasl_access_table():
    lines = deny_list_text(ROWS, "postfix").splitlines()
    assert "check_sasl_access hash:/etc/postfix/relaywatch_sasl_deny" in lines[1]
    assert lines[3] == "info@c.example\tREJECT relaywatch: account locked, risk 85"
    assert lines[5] == "sales@b.example\tREJECT relaywatch: account locked, risk 60"


def test_a_login_that_cannot_be_one_key_is_only_named_in_a_comment():
    odd = accounts(
        ("evil\nroot", 90, "critical", "cracked"),  # would add a second key
        ("a b@x.example", 90, "critical", "cracked"),  # a key ends at white space
        ("#x@x.example", 90, "critical", "cracked"),  # a comment line
        ("user:x@x.example", 90, "critical", "cracked"),  # passwd-file's separator
    )
    lines = deny_list_text(odd, "deny-list").splitlines()
    assert [x for x in lines if not x.startswith("#")] == []
    assert sum(x.startswith("# not listed (lock it by hand): ") for x in lines) == 4
    assert "'evil\\nroot'" in deny_list_text(odd, "deny-list")


def test_the_export_writes_the_samples_cracked_account_and_refuses_other_forms(tmp_path):
    out = tmp_path / "deny-users"
    args = ["export", "accounts", "--config", str(DEMO_CONFIG), "--format", "deny-list"]
    result = CliRunner().invoke(cli, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    keys = [x for x in out.read_text().splitlines() if not x.startswith("#")]
    assert keys == ["sales@bluebird-travel.example"]  # the sample's phished account
    wrong = CliRunner().invoke(cli, ["export", "accounts", "--format", "nftables"])
    assert wrong.exit_code == 2
    assert wrong.stderr.splitlines()[-1] == (
        "relaywatch: error: --format nftables: not a form of accounts "
        "(its forms: plain, deny-list, postfix)"
    )
