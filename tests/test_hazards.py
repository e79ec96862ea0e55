"""Static detection of run-to-run variation in cell source."""

from __future__ import annotations

import pytest

from flowrec.hazards import find_hazards, random_states


def kinds(source):
    return [(hazard.kind, hazard.call, hazard.line) for hazard in find_hazards(source)]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("noise = np.random.normal(0, 1, 5)", [("random", "np.random.normal", 1)]),
        ("import random\nvalue = random.random()", [("random", "random.random", 2)]),
        ("np.random.seed(0)\nx = np.random.rand(3)", [("seed", "np.random.seed", 1)]),
        ("rng = np.random.default_rng()", [("random", "np.random.default_rng", 1)]),
        ("rng = np.random.default_rng(42)\ny = rng.normal()", []),
        ("random.seed(hash('name'))", [("hash", "random.seed", 1), ("hash", "hash", 1)]),
        ("run_at = datetime.now()", [("clock", "datetime.now", 1)]),
        ("import time\nstarted = time.time()", [("clock", "time.time", 2)]),
        ("token = uuid.uuid4()", [("clock", "uuid.uuid4", 1)]),
        ("pid = os.getpid()", [("clock", "os.getpid", 1)]),
        ("labels = list({'a', 'b'})", [("set order", "set iteration", 1)]),
        ("for word in set(words):\n    print(word)", [("set order", "set iteration", 1)]),
        ("ordered = sorted(set(words))", []),
        ("total = sum(values)", []),
        ("def broken(:", []),
    ],
)
def test_hazards(source, expected):
    """Each kind of variation is found with its call and line; seeded code is not."""
    assert kinds(source) == expected


def test_random_states_follow_draws():
    """The global generators' state digests change with a draw and repeat with a seed."""
    import random

    import numpy as np

    random.seed(1)
    np.random.seed(1)
    first = random_states()
    random.random()
    np.random.random()
    assert random_states()["python"] != first["python"]
    assert random_states()["numpy"] != first["numpy"]
    random.seed(1)
    np.random.seed(1)
    assert random_states() == first
