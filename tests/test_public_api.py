"""The package's public API: a sorted __all__ whose names all exist."""

import analyzer


def test_all_is_sorted_and_complete():
    assert analyzer.__all__ == sorted(analyzer.__all__)
    for name in analyzer.__all__:
        assert hasattr(analyzer, name), name
