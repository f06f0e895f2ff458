"""``relaywatch alerts``: the command (the job is ``analyzer.watch``)."""

from __future__ import annotations

import click

from analyzer.cli_options import announce, config_option, no_dns_option, reports_errors
from analyzer.settings.config import load_settings


def echo_run(run) -> None:
    """What an alerts run said, then its summary, on stderr."""
    from analyzer.watch import describe

    for note in run.notes:
        click.echo(f"relaywatch: {note}", err=True)
    for line in describe(run):
        click.echo(line)
    click.echo(f"relaywatch: {run.text()}", err=True)


@click.command()
@config_option
@click.option(
    "--dry-run", is_flag=True, help="print what would be said; send and remember nothing."
)
@no_dns_option
@reports_errors
def alerts(config_path: str | None, dry_run: bool, no_dns: bool) -> None:
    """Alert on what should not wait for the morning mail: judge the store's last hour.

    Rules ([alerts] in the config): an account's recipients far above its busiest hour; an
    account logging in from a new network after failed logins from outside every customer
    network; an own IP's remote refusals blaming a blocklist; an own IP listed on a
    configured DNSBL; a customer's first refused relay after the enforcement date.

    Each alert is said once (the store remembers it), again after the cool-down, and a
    recovery when the condition clears: one mail each to alerts.to (else mail.to) through
    [mail] and, if set, a JSON POST to alerts.webhook. Run it after each ingest
    (`relaywatch ingest --alerts` does both). Exit status 2 if a message could not be sent
    (it is sent by the next run).

    Example:

        relaywatch alerts --dry-run
    """
    from analyzer.watch import run_alerts

    settings = load_settings(config_path)
    announce(settings)
    echo_run(run_alerts(settings, dns=not no_dns, dry_run=dry_run))
