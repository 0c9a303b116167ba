# Warden's Python runner: the glue componentize-py builds once per machine.
# The student's source arrives as an argument of each call and is compiled
# and run here, inside the sandbox, in a fresh module namespace; the host
# maps the exercise's WIT types to and from the JSON text exchanged here.
import json
import sys
import traceback

import wit_world
from wit_world.imports.types import (
    Exception as Raised,
    Failure_Missing,
    Failure_Raised,
    Failure_Syntax,
)
from componentize_py_types import Err

# The standard library as a solution meets it: a module is importable at
# grading time only if it was imported while the runner was built (the
# build snapshots the interpreter; there is no file system at run time).
import abc, array, base64, bisect, calendar, cmath, collections, copy  # noqa: E401,F401
import dataclasses, datetime, decimal, enum, fractions, functools  # noqa: E401,F401
import hashlib, heapq, io, itertools, math, numbers, operator, os  # noqa: E401,F401
import random, re, socket, statistics, string, struct, textwrap, time  # noqa: E401,F401
import typing, unicodedata  # noqa: E401,F401
import collections.abc  # noqa: F401

# Longest traceback handed back; the host truncates reports again.
TRACEBACK_CHARS = 4000


def _raised(error, filename):
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    # Frames of this glue say nothing to a student: keep those of their file.
    kept = [lines[0]] + [
        line for line in lines[1:-1] if f'"{filename}"' in line or not line.startswith("  File")
    ] + [lines[-1]]
    text = "".join(kept)
    if len(text) > TRACEBACK_CHARS:
        text = text[:TRACEBACK_CHARS] + "…"
    message = str(error) if str(error) else type(error).__name__
    return Err(Failure_Raised(Raised(message=message, traceback=text)))


def _module(name, source):
    try:
        code = compile(source, name, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise Err(Failure_Syntax(
            f"{name}, line {error.lineno}: {type(error).__name__}: {error.msg}"
        ))
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(code, namespace)
    except MemoryError:
        raise
    except BaseException as error:
        raise _raised(error, name)
    return namespace


def _plain(value):
    # Tuples, sets and other iterables a solution may return become lists;
    # dicts keep their keys as text.
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if hasattr(value, "value") and hasattr(value, "name"):  # an Enum member
        return _plain(value.value) if isinstance(value.value, str) else value.name
    return value


class WitWorld(wit_world.WitWorld):
    def load(self, name, source, functions):
        namespace = _module(name, source)
        missing = [f for f in functions if not callable(namespace.get(f))]
        if missing:
            raise Err(Failure_Missing(missing))

    def call(self, name, source, function, args):
        namespace = _module(name, source)
        func = namespace.get(function)
        if not callable(func):
            raise Err(Failure_Missing([function]))
        try:
            result = func(*json.loads(args))
        except MemoryError:
            raise
        except BaseException as error:
            raise _raised(error, name)
        try:
            return json.dumps(_plain(result), allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise _raised(TypeError(f"{function} returned a value that is not plain data: {error}"), name)
