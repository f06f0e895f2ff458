"""Events -> messages: the lines that name a queue id, one row per message instance, and
where its recipients went (local or external: by the local domains, else by transport).

Queue ids are numbered per server and queue id because short queue ids are reused over weeks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analyzer import schema as s
from analyzer.sessions.runs import (
    _KEY,
    _flag,
    first_valid,
    matcher,
    number_runs,
    reduce_slices,
    reduce_times,
    slice_any,
    slice_max,
    slices,
)

MESSAGE_EVENTS = (
    s.EV_CLIENT,
    s.EV_PICKUP,
    s.EV_MESSAGE_ID,
    s.EV_QUEUED,
    s.EV_DELIVERY,
    s.EV_REMOVED,
    s.EV_BOUNCE,
)
LOCAL_TRANSPORTS = ("virtual", "local", "lmtp", "pipe")
_MSG = "_message"
CONTENT_REJECTED = "content_rejected"
QUEUED = "queued"
REMOVED = "removed"


MESSAGE_COLUMNS = [
    s.ORIG_RECIPIENT,
    s.SERVER,
    s.QUEUE_ID,
    s.SEQ,
    s.TS,
    s.EVENT,
    s.DAEMON,
    s.SENDER,
    s.NRCPT,
    s.SIZE,
    s.RECIPIENT,
    s.RELAY,
]


def message_lines(events: pd.DataFrame) -> pd.DataFrame:
    """The lines that name a queue id, numbered per message instance (``_message``)."""
    content_reject = _flag(events, s.EVENT, s.EV_REJECT) & _flag(events, s.DAEMON, "cleanup")
    mask = events[s.QUEUE_ID].notna().to_numpy() & (
        events[s.EVENT].isin(MESSAGE_EVENTS).to_numpy() | content_reject
    )
    rows = np.flatnonzero(mask)
    opens = (_flag(events, s.EVENT, s.EV_CLIENT) | _flag(events, s.EVENT, s.EV_PICKUP))[rows]
    keys = [s.SERVER, s.QUEUE_ID]
    return number_runs(events, keys, opens, MESSAGE_COLUMNS, rows=rows).rename(columns={_KEY: _MSG})


def build_messages(lines: pd.DataFrame, local_domains: frozenset[str]) -> pd.DataFrame:
    """One row per message instance (server, queue id, n-th use of that id), from its
    ``message_lines``.

    Returns: ``server``, ``queue_id``, ``_message``, ``nrcpt``, ``recipients`` (distinct
    delivered-to addresses), ``external_recipients``, ``local_recipients``, ``sender``,
    ``size``, ``content_rejected`` (1 if cleanup refused it after DATA), ``first_seq``
    (the line that opened it), ``last_ts``, and ``queued`` / ``removed`` (whether the queue
    manager took it / is done with it: until then more delivery lines may follow).
    """
    # Rows come sorted by message (number_runs): every aggregate is a reduction over slices.
    key = lines[_MSG].to_numpy()
    labels, starts = slices(key)
    event_is = matcher(lines[s.EVENT])
    queued = event_is(s.EV_QUEUED)
    messages = pd.DataFrame(
        {
            s.SERVER: first_valid(lines[s.SERVER], key, labels),
            s.QUEUE_ID: first_valid(lines[s.QUEUE_ID], key, labels),
            "first_seq": reduce_slices(lines[s.SEQ].to_numpy(), starts, np.minimum),
            s.SENDER: first_valid(lines[s.SENDER], key, labels),
            "last_ts": reduce_times(lines[s.TS], starts, np.maximum),
            # Exim's "<=" line is the arrival in the queue; Postfix's qmgr logs it separately.
            QUEUED: slice_any(queued | _flag(lines, s.DAEMON, "exim"), starts),
            REMOVED: slice_any(event_is(s.EV_REMOVED), starts),
            CONTENT_REJECTED: slice_any(event_is(s.EV_REJECT), starts).astype(np.int64),
            s.NRCPT: slice_max(lines[s.NRCPT], queued, starts),
            s.SIZE: slice_max(lines[s.SIZE], queued, starts),
        },
        index=pd.Index(labels, name=_MSG),
    )
    rcpt = lines.loc[
        _flag(lines, s.EVENT, s.EV_DELIVERY),
        [_MSG, s.RECIPIENT, s.ORIG_RECIPIENT, s.RELAY, s.DAEMON],
    ].drop_duplicates([_MSG, s.RECIPIENT])
    is_external = external_recipients(rcpt, local_domains)
    per_message = (
        pd.DataFrame(
            {
                _MSG: rcpt[_MSG].to_numpy(),
                "external": is_external.astype(np.int64),
                "local": (~is_external).astype(np.int64),
            }
        )
        .groupby(_MSG)
        .sum()
    )
    messages[s.RECIPIENTS] = per_message["external"] + per_message["local"]
    messages[s.EXTERNAL_RECIPIENTS] = per_message["external"]
    messages[s.LOCAL_RECIPIENTS] = per_message["local"]
    counts = [s.RECIPIENTS, s.EXTERNAL_RECIPIENTS, s.LOCAL_RECIPIENTS]
    messages[counts] = messages[counts].fillna(0).astype(np.int64)
    return messages.rename_axis(_MSG).reset_index()


def external_recipients(deliveries: pd.DataFrame, local_domains: frozenset[str]) -> np.ndarray:
    """True where a delivered-to address leaves the provider.

    With known local domains (the provider's and its customers'), the recipient's domain
    decides; without them, the transport does (smtp out vs. virtual/local/lmtp/pipe).
    """
    if local_domains:
        # The address as the client gave it (Postfix orig_to=, Exim's "<...>"): an alias to
        # elsewhere is still mail for us. A bare local part is local.
        address = pc.coalesce(
            as_text(deliveries[s.ORIG_RECIPIENT]), as_text(deliveries[s.RECIPIENT])
        )
        found = pc.extract_regex(address, r"@(?P<domain>[^@]*)$")
        domain = pc.utf8_lower(pc.struct_field(found, "domain"))
        known = pc.is_in(domain, value_set=pa.array(sorted(local_domains), pa.large_string()))
        return pc.and_kleene(pc.is_valid(domain), pc.invert(known)).to_numpy(zero_copy_only=False)
    return ~local_transport(deliveries)


def local_transport(deliveries: pd.DataFrame) -> np.ndarray:
    """True where a delivery stayed with the provider: Postfix's local, virtual, lmtp and pipe
    transports (the daemon, or the relay's name), or an Exim transport that speaks no SMTP
    (appendfile, lmtp, pipe: Debian's ``local_delivery``, ``dovecot_lmtp``, ``address_pipe``).

    Requires: ``relay``, ``daemon``.
    """
    # In Arrow: pandas' string methods split and search row by row (1 s per 1 M lines).
    relay = as_text(deliveries[s.RELAY])
    relay = pc.list_element(pc.split_pattern(pc.fill_null(relay, ""), "[", max_splits=1), 0)
    daemon = as_text(deliveries[s.DAEMON])
    transports = pa.array(LOCAL_TRANSPORTS, pa.large_string())
    postfix = pc.or_(pc.is_in(relay, value_set=transports), pc.is_in(daemon, value_set=transports))
    exim = pc.and_kleene(
        pc.and_kleene(pc.equal(daemon, "exim"), pc.not_equal(relay, "")),
        pc.invert(pc.match_substring(relay, "smtp", ignore_case=True)),
    )
    local = pc.or_(postfix, pc.fill_null(exim, False))
    return local.to_numpy(zero_copy_only=False).astype(bool)


DOMAIN = r"[a-z0-9-]+(?:\.[a-z0-9-]+)*"


def local_delivery_domains(events: pd.DataFrame) -> frozenset[str]:
    """The domains the logs show delivered locally (``local_transport``): the domains the
    servers keep mail for, and so the local domains when none are configured. Both the final
    address and the one the client gave (an alias) count; lower case.

    Requires: ``event``, ``recipient``, ``orig_recipient``, ``relay``, ``daemon``.
    """
    deliveries = events.loc[
        _flag(events, s.EVENT, s.EV_DELIVERY), [s.RECIPIENT, s.ORIG_RECIPIENT, s.RELAY, s.DAEMON]
    ]
    local = deliveries[local_transport(deliveries)]
    texts = [as_text(local[name]) for name in (s.RECIPIENT, s.ORIG_RECIPIENT)]
    chunks = [c for text in texts for c in getattr(text, "chunks", [text])]
    addresses = pa.chunked_array(chunks, pa.large_string()).drop_null()
    found = pc.extract_regex(addresses, r"@(?P<domain>[^@\s]+)$")
    domains = pc.utf8_lower(pc.struct_field(found, "domain")).drop_null().unique()
    named = pc.match_substring_regex(domains, f"^(?:{DOMAIN})$")
    return frozenset(domains.filter(named).to_pylist())


def as_text(column: pd.Series) -> pa.Array:
    """A column as one arrow large_string array (nulls kept)."""
    array = (
        pa.array(column.array, from_pandas=True) if len(column) else pa.array([], pa.large_string())
    )
    return array.cast(pa.large_string())


REFUSED_STATUSES = ("deferred", "bounced")


def outbound_deliveries(deliveries: pd.DataFrame, local_domains: frozenset[str]) -> pd.DataFrame:
    """The delivery attempts (``analysis.deliveries``) to other domains: the mail that goes out
    through our IPs. That table keeps no ``orig_to`` or daemon, so the recipient decides."""
    return deliveries[outbound_mask(deliveries, local_domains)]


def outbound_mask(deliveries: pd.DataFrame, local_domains: frozenset[str]) -> np.ndarray:
    """Which rows of ``outbound_deliveries``' input go to other domains."""
    unknown = {s.ORIG_RECIPIENT: pd.NA, s.DAEMON: pd.NA}
    mask = external_recipients(deliveries.assign(**unknown), local_domains)
    return np.asarray(mask, dtype=bool)
