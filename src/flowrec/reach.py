"""Globals reached through user functions and classes that a cell uses.

A cell that calls ``predict(x)``, where ``predict`` was defined in an earlier
cell and reads the global ``model``, depends on ``model`` as surely as if it
named it. The names a function loads and stores as globals are read from its
bytecode (and that of nested functions), and followed transitively through
other user functions and classes in the namespace.
"""

from __future__ import annotations

import dis
import functools
import types
from typing import Any, Iterable

_LOAD_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_STORE_OPS = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})
USER_MODULE = "__main__"


def globals_reached(names: Iterable[str], namespace: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Return the globals loaded and stored by the user functions among ``names``.

    Only functions and classes defined in the notebook (module ``__main__``)
    are followed; library code is not.
    """
    loads: list[str] = []
    stores: list[str] = []
    pending = [namespace[name] for name in names if name in namespace]
    seen: set[int] = set()
    while pending:
        value = pending.pop()
        for code in _user_code_objects(value):
            if id(code) in seen:
                continue
            seen.add(id(code))
            code_loads, code_stores = _global_names(code)
            for name in code_stores:
                if name not in stores:
                    stores.append(name)
            for name in code_loads:
                if name in namespace and name not in loads:
                    loads.append(name)
                    pending.append(namespace[name])
    return loads, stores


def _user_code_objects(value: Any) -> list[types.CodeType]:
    """Return the code objects of a user function, method or class, else nothing."""
    if isinstance(value, types.MethodType):
        value = value.__func__
    if isinstance(value, functools.partial):
        value = value.func
    if isinstance(value, types.FunctionType):
        return [value.__code__] if value.__module__ == USER_MODULE else []
    if not isinstance(value, type) and type(value).__module__ == USER_MODULE:
        value = type(value)  # an instance: its methods run when the cell calls them
    if isinstance(value, type) and value.__module__ == USER_MODULE:
        codes = []
        for attribute in vars(value).values():
            if isinstance(attribute, (staticmethod, classmethod)):
                attribute = attribute.__func__
            if isinstance(attribute, property):
                codes.extend(f.__code__ for f in (attribute.fget, attribute.fset, attribute.fdel)
                             if isinstance(f, types.FunctionType))
            elif isinstance(attribute, types.FunctionType):
                codes.append(attribute.__code__)
        return codes
    return []


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the global names a code object (and its nested code) loads and stores."""
    loads: list[str] = []
    stores: list[str] = []
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LOAD_OPS and isinstance(instruction.argval, str):
            loads.append(instruction.argval)
        elif instruction.opname in _STORE_OPS and isinstance(instruction.argval, str):
            stores.append(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            nested_loads, nested_stores = _global_names(const)
            loads.extend(nested_loads)
            stores.extend(nested_stores)
    return tuple(dict.fromkeys(loads)), tuple(dict.fromkeys(stores))
