"""The package's layers, checked from the source: data flows one way, private names stay home.

Every module under ``geogrid/`` is parsed (``ast``, nothing imported) and each of its imports
of ``geogrid`` modules, at the top or inside a function, is checked against the layer order of
``docs/architecture.md``::

    foundation (errors, settings, crs, schema) < io < network < study < analyses < outputs
    < results / api / demo / scenarios / widgets < batch < cli / __main__

A module may import its own layer or a lower one, never a higher one, and never another
module's private (``_x``) name, whether as ``from geogrid.m import _x`` or as ``m._x`` on an
imported module. ``geogrid/__init__.py`` is the lazy front door and may name anything.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "geogrid"

# Module (or package) -> layer rank; the longest matching prefix decides.
LAYERS: dict[str, int] = {
    "geogrid.errors": 0,
    "geogrid.settings": 0,
    "geogrid.crs": 0,
    "geogrid.schema": 0,
    "geogrid.io": 1,
    "geogrid.network": 2,
    "geogrid.study": 3,
    "geogrid.analyses": 4,
    "geogrid.outputs": 5,
    "geogrid.results": 6,
    "geogrid.api": 6,
    "geogrid.demo": 6,
    "geogrid.scenarios": 6,
    "geogrid.widgets": 6,
    "geogrid.batch": 7,
    "geogrid.cli": 8,
    "geogrid.__main__": 8,
}
LAYER_NAMES = [
    "foundation",
    "io",
    "network",
    "study",
    "analyses",
    "outputs",
    "results/api/demo",
    "batch",
    "cli",
]
FRONT_DOOR = "geogrid"  # geogrid/__init__.py

# Private names still taken across modules, in files their owners are rewriting right now
# (tasks/owners.txt). This list may only shrink: an entry that no longer occurs fails the test.
KNOWN_PRIVATE: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Edge:
    """One import of a geogrid module (and the names taken from it) by another."""

    importer: str
    target: str
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    """Dotted module name of a file under ``geogrid/`` (packages by their ``__init__``)."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package by name."""
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer(name: str) -> int | None:
    """Layer rank of a module, by its longest prefix in LAYERS; None when unplaced."""
    best: tuple[int, int] | None = None
    for prefix, rank in LAYERS.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
            best is None or len(prefix) > best[0]
        ):
            best = (len(prefix), rank)
    return None if best is None else best[1]


def _absolute(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _import_edges(
    name: str, node: ast.Import | ast.ImportFrom, is_package: bool, known: set[str]
) -> tuple[list[Edge], dict[str, str]]:
    """Edges of one import statement, and the local names it binds to geogrid modules."""
    out: list[Edge] = []
    aliases: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.name.split(".")[0] == "geogrid":
                out.append(Edge(name, a.name, (), node.lineno))
                if a.asname:
                    aliases[a.asname] = a.name
        return out, aliases
    target = _absolute(name, is_package, node)
    if target.split(".")[0] != "geogrid":
        return out, aliases
    plain: list[str] = []
    for a in node.names:
        sub = f"{target}.{a.name}"
        if sub in known:  # `from geogrid.io import readers`: an import of the module
            out.append(Edge(name, sub, (), node.lineno))
            aliases[a.asname or a.name] = sub
        else:
            plain.append(a.name)
    if plain:
        out.append(Edge(name, target, tuple(plain), node.lineno))
    return out, aliases


def edges(name: str, path: Path, known: set[str]) -> list[Edge]:
    """Every import of a geogrid module in one file, and attributes taken from one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[Edge] = []
    aliases: dict[str, str] = {}  # local name -> geogrid module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found, bound = _import_edges(name, node, path.name == "__init__.py", known)
            out += found
            aliases.update(bound)
    out += [
        Edge(name, aliases[node.value.id], (node.attr,), node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
    ]
    return out


def _private(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n.startswith("_") and not n.startswith("__")]


def violations(mods: dict[str, Path], root: Path = ROOT) -> tuple[list[str], list[str], list[str]]:
    """(upward imports, private names taken, modules without a layer) over ``mods``."""
    known = set(mods)
    upward: list[str] = []
    private: list[str] = []
    unplaced = [m for m in mods if m != FRONT_DOOR and layer(m) is None]
    for name, path in mods.items():
        if name == FRONT_DOOR:
            continue
        own = layer(name)
        where = path.relative_to(root.parent)
        for e in edges(name, path, known):
            theirs = layer(e.target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(
                    f"{where}:{e.line}: {name} ({LAYER_NAMES[own]}) imports {e.target} "
                    f"({LAYER_NAMES[theirs]})"
                )
            for bad in _private(e.names) if e.target != name else []:
                private.append(f"{where}:{e.line}: {name} takes {e.target}.{bad}")
    return upward, private, unplaced


def _known(line: str) -> tuple[str, str]:
    importer, _, taken = line.split(": ", 1)[1].partition(" takes ")
    return importer, taken


def test_every_module_has_a_layer():
    _, _, unplaced = violations(modules())
    assert not unplaced, "add these modules to LAYERS (and docs/architecture.md): " + ", ".join(
        unplaced
    )


def test_no_module_imports_a_higher_layer():
    upward, _, _ = violations(modules())
    assert not upward, "imports against the flow of data:\n" + "\n".join(upward)


def test_no_module_takes_another_modules_private_name():
    _, private, _ = violations(modules())
    new = [p for p in private if _known(p) not in KNOWN_PRIVATE]
    assert not new, "private names used outside their module:\n" + "\n".join(new)
    gone = KNOWN_PRIVATE - {_known(p) for p in private}
    assert not gone, f"fixed, remove from KNOWN_PRIVATE: {sorted(gone)}"


def test_package_inits_are_docstring_only():
    """Sub-package ``__init__.py`` files hold a docstring and nothing else."""
    bad = []
    for path in sorted(ROOT.rglob("__init__.py")):
        if path.parent == ROOT:
            continue  # the lazy public API
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if not body or any(
            not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) for s in body
        ):
            bad.append(str(path.relative_to(ROOT.parent)))
    assert not bad, "sub-package __init__.py with code: " + ", ".join(bad)


# The checker itself, on hand-made modules: each rule must be able to fail.


def _fake(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    mods = {}
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        mods[rel.removesuffix(".py").removesuffix("/__init__").replace("/", ".")] = p
    return mods


@pytest.mark.parametrize(
    ("files", "upward", "private"),
    [
        # a lazy import of the CLI inside an io function: upward
        (
            {
                "geogrid/io/readers.py": "def f():\n    from geogrid.cli import main\n",
                "geogrid/cli.py": "",
            },
            1,
            0,
        ),
        # a relative import resolves to the same upward edge
        (
            {
                "geogrid/network/build.py": "from ..outputs.webmap import build_map\n",
                "geogrid/outputs/webmap.py": "",
            },
            1,
            0,
        ),
        # down the layers, public names: fine
        (
            {
                "geogrid/cli.py": "from geogrid.study.area import load_study\n",
                "geogrid/study/area.py": "",
            },
            0,
            0,
        ),
        # a private name by `from ... import _x` and by `module._x`
        (
            {
                "geogrid/cli.py": (
                    "from geogrid.api import _layer\n"
                    "from geogrid.outputs import webmap\n"
                    "webmap._TYPE_STYLE\n"
                ),
                "geogrid/api.py": "",
                "geogrid/outputs/webmap.py": "",
            },
            0,
            2,
        ),
        # a module's own private names and dunders are fine
        (
            {"geogrid/crs.py": "from geogrid.errors import CRSError\n__all__ = []\n"},
            0,
            0,
        ),
    ],
)
def test_checker_catches(tmp_path, files, upward, private):
    mods = _fake(tmp_path, files)
    up, priv, _ = violations(mods, root=tmp_path / "geogrid")
    assert (len(up), len(priv)) == (upward, private), (up, priv)
