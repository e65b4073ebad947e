"""The code a module runs: the import closure of a lingscope module inside the package (and the
file of a user's module outside it: a family of the user's own, ``kind: custom``).

Read with ``ast`` (no import, so no torch): every ``lingscope`` module the module imports, at
any depth and wherever the import statement stands (inside functions too), plus the
``__init__.py`` of every package on the way, since those run on import. The workflow lists a
rule's closure as its code inputs, so editing a module reruns exactly the rules that run it;
the training fingerprint hashes the training code's closure, so a checkpoint made by other
code is never resumed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]  # the folder holding the lingscope package


class CodeError(Exception):
    """A module that cannot be resolved, or an import the closure cannot follow."""


def module_file(name: str, src: Path = SRC) -> Path | None:
    base = src.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


@lru_cache(maxsize=None)
def _imports(name: str, src: Path) -> frozenset[str]:
    path = module_file(name, src)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lingscope"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise CodeError(f"{path}:{node.lineno}: relative import; write it as an absolute "
                                "lingscope import so the code a rule runs can be derived")
            if node.module and node.module.split(".")[0] == "lingscope":
                found.add(node.module)
                found |= {f"{node.module}.{a.name}" for a in node.names}  # ``from pkg import module``
    parts = name.split(".")
    found |= {".".join(parts[:k]) for k in range(1, len(parts))}
    return frozenset(m for m in found if module_file(m, src) is not None)


def external_file(name: str) -> Path:
    """The source file of module ``name`` outside the package, found on the Python path (``PYTHONPATH``)
    without running it (its parent packages' ``__init__`` do run, as any import runs them)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as err:
        raise CodeError(f"cannot import {name!r} ({err}); put the folder holding it on PYTHONPATH") from None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise CodeError(f"cannot find the module {name!r} on the Python path; put the folder holding it on "
                        "PYTHONPATH (a .py file)")
    return Path(spec.origin)


def declared(name: str, variable: str, default=None):
    """The literal value of the top-level assignment ``variable = ...`` in the file of module
    ``name`` (``ast.literal_eval``: read, never run); ``default`` where the module has none."""
    path = external_file(name) if module_file(name) is None else module_file(name)
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) and node.value is not None else []
        if any(isinstance(t, ast.Name) and t.id == variable for t in targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                raise CodeError(f"{path}:{node.lineno}: {variable} must be a literal (a dict, a tuple, a string, "
                                "...) that can be read without running the module") from None
    return default


def _is_external(name: str, src: Path) -> bool:
    return name.split(".")[0] != "lingscope" and module_file(name, src) is None


def closure(*modules: str, src: Path = SRC) -> list[Path]:
    """The files of the import closure of ``modules`` (dotted names), sorted. A module outside
    the package is its own file only (its imports are the user's business)."""
    seen: set[str] = set()
    external = [external_file(m) for m in modules if _is_external(m, src)]
    todo = [m for m in modules if not _is_external(m, src)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if module_file(name, src) is None:
            raise CodeError(f"no module {name} under {src}")
        seen.add(name)
        todo += sorted(_imports(name, src) - seen)
    return sorted(module_file(m, src) for m in seen) + sorted(external)


def digest(*modules: str, src: Path = SRC) -> str:
    """SHA-256 of the closure's files (their paths within the package and their content)."""
    h = hashlib.sha256()
    for path in closure(*modules, src=src):
        h.update(str(path.relative_to(src) if path.is_relative_to(src) else path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
