"""Functions copied into a migration file as source, and the hash that identifies them.

A generated migration must keep computing what it computed when it was
written, whatever the team's code says later, so the derive function it
backfills with is copied into the file (as Django copies ``RunPython``
functions), with what it needs from its module: imports, literal constants and
the module's own helper functions. A derive function's identity in the schema
snapshot is `function_digest`: a hash of its normalized source (docstring,
name, decorators and formatting do not count), so a changed body is drift that
``migrate check --offline`` sees.
"""

from __future__ import annotations

import ast
import contextlib
import dis
import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import RevisionGraphError

__all__ = ["CopiedFunction", "copy_function", "function_digest"]

_LITERALS = (str, int, float, bool, bytes, type(None))


def _where(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _definition(fn: Callable[..., Any]) -> tuple[str, ast.FunctionDef] | None:
    """The dedented source of `fn` and its ``def`` node; None when unreadable."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != getattr(fn, "__name__", None):
        return None  # a lambda, or a function made some other way
    return source, node


def _normalized(node: ast.FunctionDef) -> str:
    tree = ast.parse(ast.unparse(node))  # a fresh copy of the node
    copy = tree.body[0]
    assert isinstance(copy, ast.FunctionDef)
    copy.name = "_"
    copy.decorator_list = []
    body = copy.body
    first = body[0].value if body and isinstance(body[0], ast.Expr) else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        copy.body = body[1:] or [ast.Pass()]
    return ast.unparse(copy)


def _code_names(code: types.CodeType) -> Iterator[str]:
    """The global names `code` reads (not attribute names, which share ``co_names``)."""
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(
            instruction.argval, str
        ):
            yield instruction.argval
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _is_literal(value: Any) -> bool:
    if isinstance(value, (tuple, frozenset)):
        return all(_is_literal(v) for v in value)
    return isinstance(value, _LITERALS)


@dataclass
class CopiedFunction:
    """A function as a migration file carries it.

    Attributes:
        name: Its name in the file.
        digest: `function_digest` of the original.
        origin: ``module.qualname`` of the original (said in a comment).
        imports: Import lines and literal constants it needs, in order.
        helpers: Source of the module's own functions it calls, by name.
        source: Its ``def``, renamed to `name`.
        function: The copy, compiled (what the migration will run).
    """

    name: str
    digest: str
    origin: str
    imports: list[str] = field(default_factory=list)
    helpers: dict[str, str] = field(default_factory=dict)
    source: str = ""
    function: Callable[..., Any] | None = None


def _refuse(fn: Callable[..., Any], why: str) -> RevisionGraphError:
    return RevisionGraphError(
        f"{_where(fn)} cannot be copied into the migration: {why}. Fix: make it a plain "
        "`def` at module level that uses only its argument, imports, literal constants "
        "and other plain functions of its module."
    )


def _dependencies(
    fn: Callable[..., Any], imports: list[str], helpers: dict[str, str], seen: set[str]
) -> None:
    module = getattr(fn, "__module__", None)
    namespace = getattr(fn, "__globals__", {})
    for name in dict.fromkeys(_code_names(fn.__code__)):
        if name not in namespace or name in seen:
            continue
        seen.add(name)
        value = namespace[name]
        if isinstance(value, types.ModuleType):
            line = (
                f"import {value.__name__}"
                if value.__name__ == name
                else f"import {value.__name__} as {name}"
            )
        elif _is_literal(value):
            line = f"{name} = {value!r}"
        elif inspect.isfunction(value) and value.__module__ == module:
            found = _definition(value)
            if found is None or found[1].decorator_list:
                raise _refuse(fn, f"its helper {name} has no readable plain `def`")
            _dependencies(value, imports, helpers, seen)
            helpers[name] = found[0].rstrip()
            continue
        elif getattr(value, "__module__", module) != module and "." not in getattr(
            value, "__qualname__", "."
        ):
            # Library code (json, decimal, ...): imported by name, like Django's copies do.
            line = f"from {value.__module__} import {value.__qualname__}"
            if value.__qualname__ != name:
                line += f" as {name}"
        else:
            raise _refuse(fn, f"it uses {name}, which is neither an import nor a literal")
        if line not in imports:
            imports.append(line)


def function_digest(fn: Callable[..., Any]) -> str:
    """A hash of `fn`'s normalized source and of what it uses from its module.

    Formatting, comments, the docstring and the name do not change it; its body,
    a helper's body or a constant's value do. A function without readable
    source (a lambda) is hashed from its bytecode instead.
    """
    found = _definition(fn)
    digest = hashlib.sha256()
    if found is None or found[1].decorator_list:
        code = fn.__code__
        digest.update(code.co_code + repr((code.co_consts, code.co_names)).encode())
        return digest.hexdigest()
    digest.update(_normalized(found[1]).encode())
    imports: list[str] = []
    helpers: dict[str, str] = {}
    # What it uses may not be copyable: the copy refuses then, the digest still works.
    with contextlib.suppress(RevisionGraphError):
        _dependencies(fn, imports, helpers, {fn.__name__})
    for line in imports:
        digest.update(b"\0" + line.encode())
    for name in sorted(helpers):
        helper = ast.parse(helpers[name]).body[0]
        assert isinstance(helper, ast.FunctionDef)
        digest.update(b"\0" + name.encode() + _normalized(helper).encode())
    return digest.hexdigest()


def copy_function(fn: Callable[..., Any], name: str) -> CopiedFunction:
    """`fn` as a migration file carries it, renamed to `name`, and compiled.

    Raises:
        RevisionGraphError: Its source cannot be read (a lambda, a decorated or
            nested function), or it uses something that is neither an import, a
            literal constant nor a plain function of its module.
    """
    found = _definition(fn)
    if found is None:
        raise _refuse(fn, "its source cannot be read (a lambda, or not defined in a file)")
    source, node = found
    if node.decorator_list:
        raise _refuse(fn, "it is decorated")
    if fn.__name__ in set(_code_names(fn.__code__)):
        raise _refuse(fn, "it calls itself")
    imports: list[str] = []
    helpers: dict[str, str] = {}
    _dependencies(fn, imports, helpers, {fn.__name__})
    lines = source.rstrip().splitlines()
    first = node.lineno - 1
    lines[first] = lines[first].replace(f"def {fn.__name__}(", f"def {name}(", 1)
    copied = CopiedFunction(
        name=name,
        digest=function_digest(fn),
        origin=_where(fn),
        imports=imports,
        helpers=helpers,
        source="\n".join(lines),
    )
    namespace: dict[str, Any] = {"__name__": f"_oas_copy_{name}"}
    text = "\n\n".join(
        ["from __future__ import annotations", *imports, *helpers.values(), copied.source]
    )
    try:
        exec(compile(text, f"<copy of {copied.origin}>", "exec"), namespace)
    except Exception as exc:
        raise _refuse(fn, f"the copy does not run ({type(exc).__name__}: {exc})") from exc
    copied.function = namespace[name]
    return copied
