"""What a run says about the settings a user did not give: the bundled demo, neutral
defaults, an inferred time zone or local domains, no customers, no enforcement date. Shown on
every dashboard page and at the top of the mail, so no one mistakes a default for a fact."""

from __future__ import annotations

from analyzer.settings.config import FROM_DEFAULTS, FROM_DEMO, Settings


def settings_notes(
    settings: Settings, has_customers: bool, inferred_domains: tuple[str, ...] = ()
) -> list[str]:
    """What the dashboard and the mail say about settings that were not configured:
    the demo, defaults, inferred zone and domains, no customers, no enforcement date."""
    notes = []
    if settings.origin == FROM_DEMO:
        notes.append("Settings and logs of the bundled demo: no config file was found.")
    elif settings.origin == FROM_DEFAULTS:
        notes.append("No config file: neutral defaults for the logs named.")
    if settings.timezone_inferred:
        notes.append(f"Time zone {settings.timezone}: this machine's (`timezone` not set).")
    if settings.enforcement_date is None:
        notes.append(
            "No enforcement date (`enforcement_date` not set): every session counts as before it."
        )
    if not has_customers:
        notes.append(
            "No customers (`customers` not set or empty): sessions are not attributed, "
            "so readiness, statuses and the call list are empty."
        )
    if inferred_domains:
        shown = ", ".join(inferred_domains[:8])
        more = f" and {len(inferred_domains) - 8} more" if len(inferred_domains) > 8 else ""
        notes.append(
            f"Local domains inferred from the logs' local deliveries (`local_domains` not "
            f"set): {shown}{more}."
        )
    return notes
