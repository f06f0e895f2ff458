"""Helpers sharing the work of an ingest: which chunks' derived tables a helper writes."""

from __future__ import annotations

from analyzer.store.chunker import ChunkTimes
from analyzer.store.parallel import Balance


def balance_after(chunks: int, main: float, derived: float, parse: float) -> Balance:
    """A balance that has seen ``chunks`` chunks take these seconds each, derived tables
    written here."""
    balance = Balance()
    for _ in range(chunks):
        # seconds of the chunk's absorb: its own work, its derived tables, a wait of 0.1 s
        balance.absorbed(main + derived + 0.1, ChunkTimes(derived, 0.1), parse)
    return balance


def choices(balance: Balance, chunks: int, helpers: int = 1) -> list[bool]:
    made = []
    for _ in range(chunks):
        made.append(balance.ship(helpers))
        balance.chunks += 1  # as absorbed, with the same seconds per chunk
        balance.main += balance.main / (balance.chunks - 1)
        balance.parse += balance.parse / balance.parsed
        balance.parsed += 1
    return made


def test_nothing_is_shipped_before_anything_is_measured():
    assert Balance().ship(1) is False


def test_a_fast_parse_ships_half_the_chunks_to_balance_the_two_processes():
    # Postfix-like: 0.5 s of sessions and store, 0.3 s of derived tables, 0.5 s of parsing:
    # 0.5 + 0.3 (1 - f) = 0.5 + 0.3 f  ->  f = 1/2
    made = choices(balance_after(1, main=0.5, derived=0.3, parse=0.5), 30)
    assert abs(sum(made) - 15) <= 1 and made[:2] != [False, False]


def test_a_slow_parse_ships_nothing():
    # Exim-like: the helper parsing 0.9 s a chunk is already the slower side
    assert not any(choices(balance_after(1, main=0.5, derived=0.3, parse=0.9), 10))


def test_an_idle_helper_takes_every_chunk_s_derived_tables():
    assert all(choices(balance_after(1, main=0.5, derived=0.3, parse=0.1), 10))


def test_two_helpers_share_their_parsing():
    # 1.0 s of parsing a chunk, on two helpers 0.5 each: as the one fast helper above
    # 0.5 + 0.3 (1 - f) = 0.5 + 0.3 f / 2  ->  f = 2/3
    made = choices(balance_after(1, main=0.5, derived=0.3, parse=1.0), 30, helpers=2)
    assert abs(sum(made) - 20) <= 1
