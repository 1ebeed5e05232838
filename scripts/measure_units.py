"""Longest functions and largest modules of hawk's own code, measured with ``ast``.

A function's length is its source span (the ``def`` line to its last line, decorators not
counted), nested functions counted inside their parent; a module's is its line count.

    python scripts/measure_units.py             # top 10 of each
    python scripts/measure_units.py --top 5 --max-function 80 --max-module 600
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hawk_core", "hawk_cli")


def functions(path: Path) -> list[tuple[int, str]]:
    """(lines, qualified name) of every function and method in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append((child.end_lineno - child.lineno + 1, f"{prefix}{child.name}"))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def measure(root: Path = ROOT) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(functions, modules), each as (lines, name), longest first."""
    funcs: list[tuple[int, str]] = []
    mods: list[tuple[int, str]] = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            mods.append((len(path.read_text(encoding="utf-8").splitlines()), rel))
            funcs.extend((n, f"{rel}:{name}") for n, name in functions(path))
    return sorted(funcs, reverse=True), sorted(mods, reverse=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--max-function", type=int, default=None, help="exit 1 if a function is longer")
    ap.add_argument("--max-module", type=int, default=None, help="exit 1 if a module is longer")
    a = ap.parse_args()
    funcs, mods = measure()
    print("longest functions (lines)")
    for n, name in funcs[: a.top]:
        print(f"  {n:5d}  {name}")
    print("largest modules (lines)")
    for n, name in mods[: a.top]:
        print(f"  {n:5d}  {name}")
    over = [f for f in funcs if a.max_function and f[0] > a.max_function]
    over += [m for m in mods if a.max_module and m[0] > a.max_module]
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
