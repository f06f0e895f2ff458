"""Helpers sharing the work of an ingest: which chunks' derived tables a helper writes."""

from __future__ import annotations

from analyzer.store.chunker import ChunkTimes
from analyzer.store.parallel import Balance, _Window


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


def test_once_every_range_is_parsed_the_helpers_take_the_derived_tables():
    # a slow parse ships nothing while the helper parses; the last chunks, once it has
    # parsed every range, go to it whatever the seconds say (it would idle)
    balance = balance_after(1, main=0.5, derived=0.3, parse=0.9)
    assert not any(choices(balance, 5))
    balance.parsed_all = lambda: True
    assert all(choices(balance, 3))
    assert Balance(parsed_all=lambda: True).ship(1) is True  # even before any measure


class Job:
    def __init__(self, done: bool):
        self.finished = done

    def done(self) -> bool:
        return self.finished


def test_the_window_keeps_jobs_ahead_and_knows_when_they_are_all_done():
    jobs = [(index, Job(False)) for index in range(5)]
    window = _Window(iter(jobs), 3)
    taken = []
    for index, _job in window:
        taken.append(index)
        # ranges submitted ahead: 1-2, 2-3, 3-4 (the jobs end is known when asked for more)
        assert [i for i, _ in window.in_flight] == list(range(index + 1, min(index + 3, 5)))
        assert window.submitted_all == (index >= 3)
        if index == 3:
            assert not window.drained()  # the last one is still being parsed
            jobs[4][1].finished = True
            assert window.drained()
        else:
            assert not window.drained() or index == 4
    assert taken == [0, 1, 2, 3, 4] and window.drained()
