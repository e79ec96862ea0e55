"""Sources of run-to-run variation visible in a cell's source.

The scan looks for calls that draw from a random generator without a seed
set in the same cell, read the wall clock or other per-run values, derive
values from the salted built-in ``hash()``, or iterate over a set (whose
order of strings depends on the hash seed). Each finding keeps the call as
written and its line, so a report can point at it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

# Functions of the ``random`` module and numpy's global generator that draw numbers.
_RANDOM_DRAWS = frozenset({
    "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
    "gauss", "normalvariate", "lognormvariate", "expovariate", "betavariate", "triangular",
    "rand", "randn", "random_sample", "normal", "permutation", "binomial", "poisson",
    "exponential", "integers", "standard_normal", "beta", "gamma", "multinomial",
    "multivariate_normal", "dirichlet", "laplace", "logistic", "lognormal",
})
_SEED_CALLS = frozenset({"seed", "manual_seed", "set_seed"})
_UNSEEDED_GENERATORS = frozenset({"default_rng", "RandomState", "Random", "Generator",
                                  "PCG64", "SeedSequence"})
_CLOCK_CALLS = {
    "now": "the wall clock", "utcnow": "the wall clock", "today": "the wall clock",
    "time": "the wall clock", "time_ns": "the wall clock", "perf_counter": "a timer",
    "monotonic": "a timer", "process_time": "a timer",
    "uuid1": "a random UUID", "uuid4": "a random UUID",
    "getpid": "the process id", "mkstemp": "a temporary file name",
    "mkdtemp": "a temporary folder name", "NamedTemporaryFile": "a temporary file name",
    "TemporaryDirectory": "a temporary folder name", "token_hex": "a random token",
    "token_bytes": "a random token", "urandom": "random bytes",
}
# Module-level generators: a draw from them depends on every draw before it.
_RANDOM_MODULES = frozenset({"random", "np.random", "numpy.random", "torch", "torch.cuda",
                             "tf.random", "tensorflow.random"})


@dataclass(frozen=True)
class Hazard:
    """One call in a cell that can give another value on another run."""

    kind: str  # "random", "clock", "hash", "set order"
    call: str
    line: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "call": self.call, "line": self.line, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hazard:
        return cls(str(data["kind"]), str(data["call"]), int(data.get("line", 0)),
                   str(data.get("detail", "")))


def find_hazards(source: str) -> list[Hazard]:
    """Return the variation sources in ``source``; a syntax error gives none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    seeded = any(_dotted(node.func).rsplit(".", 1)[-1] in _SEED_CALLS
                 and node.args and not _uses_hash(node.args[0]) for node in calls)
    hazards: list[Hazard] = []
    for node in sorted(calls, key=lambda call: (call.lineno, call.col_offset)):
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        owner = name.rsplit(".", 1)[0] if "." in name else ""
        if last in _SEED_CALLS and node.args and _uses_hash(node.args[0]):
            hazards.append(Hazard("hash", name, node.lineno,
                                  "the seed comes from the salted built-in hash()"))
        elif last in _SEED_CALLS and node.args and owner in _RANDOM_MODULES:
            # Not a hazard: later cells that draw from this generator are seeded.
            hazards.append(Hazard("seed", name, node.lineno, "seeds the global generator"))
        elif last in _UNSEEDED_GENERATORS and not node.args and not node.keywords:
            hazards.append(Hazard("random", name, node.lineno,
                                  "a generator created without a seed"))
        elif last in _RANDOM_DRAWS and _is_random_owner(owner) and not seeded:
            hazards.append(Hazard("random", name, node.lineno,
                                  "a random draw with no seed set in this cell"))
        elif last in _CLOCK_CALLS and (owner or last in ("getpid", "urandom")):
            hazards.append(Hazard("clock", name, node.lineno, f"reads {_CLOCK_CALLS[last]}"))
        elif name == "hash":
            hazards.append(Hazard("hash", name, node.lineno,
                                  "the built-in hash() of text differs per process"))
    hazards.extend(_set_iterations(tree))
    return hazards


def random_states() -> dict[str, str]:
    """Return digests of the global generators' states: Python's ``random``, and numpy's if loaded."""
    import random
    import sys

    import xxhash

    from .hashing import pickle_without_memo

    states = {"python": xxhash.xxh3_128_hexdigest(pickle_without_memo(random.getstate()))}
    numpy = sys.modules.get("numpy")
    # numpy loads numpy.random lazily; reading the attribute loads it, which
    # seeds the global generator from the system's entropy as first use would.
    numpy_random = getattr(numpy, "random", None) if numpy is not None else None
    if numpy_random is not None:
        try:
            state = numpy_random.get_state(legacy=True)
            states["numpy"] = xxhash.xxh3_128_hexdigest(
                state[1].tobytes() + str(state[2:]).encode())
        except Exception:  # a numpy without the legacy global generator
            pass
    return states


def _set_iterations(tree: ast.AST) -> list[Hazard]:
    """Find sets turned into ordered things: list(set), for over a set, comprehension over a set."""
    found: list[Hazard] = []
    for node in ast.walk(tree):
        iterated: list[ast.expr] = []
        if isinstance(node, ast.Call) and _dotted(node.func) in ("list", "tuple", "enumerate",
                                                                  "zip", "str.join"):
            iterated = list(node.args)
        elif isinstance(node, (ast.For, ast.comprehension)):
            iterated = [node.iter]
        for expression in iterated:
            if _is_set(expression):
                found.append(Hazard("set order", "set iteration", expression.lineno,
                                    "iterates over a set, whose order of strings depends on "
                                    "the hash seed"))
    return found


def _is_set(node: ast.expr) -> bool:
    if isinstance(node, (ast.Set, ast.SetComp)):
        return True
    return isinstance(node, ast.Call) and _dotted(node.func) in ("set", "frozenset")


def _is_random_owner(owner: str) -> bool:
    # Draws from a generator object (rng.normal) are as reproducible as its
    # construction, which is checked on its own.
    return owner in _RANDOM_MODULES


def _uses_hash(node: ast.expr) -> bool:
    return any(isinstance(inner, ast.Call) and _dotted(inner.func) == "hash"
               for inner in ast.walk(node))


def _dotted(node: ast.expr) -> str:
    """Return ``a.b.c`` for a name or attribute chain, else an empty string."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append(_dotted(node.func) + "()")
    else:
        return ""
    return ".".join(reversed(parts))
