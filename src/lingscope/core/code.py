"""The code a module runs: the import closure of a lingscope module inside the package.

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


def closure(*modules: str, src: Path = SRC) -> list[Path]:
    """The files of the import closure of ``modules`` (dotted names), sorted."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if module_file(name, src) is None:
            raise CodeError(f"no module {name} under {src}")
        seen.add(name)
        todo += sorted(_imports(name, src) - seen)
    return sorted(module_file(m, src) for m in seen)


def digest(*modules: str, src: Path = SRC) -> str:
    """SHA-256 of the closure's files (their paths within the package and their content)."""
    h = hashlib.sha256()
    for path in closure(*modules, src=src):
        h.update(str(path.relative_to(src)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
