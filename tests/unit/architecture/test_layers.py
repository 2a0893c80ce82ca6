"""Dependencies point one way (DESIGN.md): a module may import its own package, the layers below it, and the
shared base (config, errors, prompts, tracing), never a layer above. Read from the source, so a new import
that breaks the order fails here before it becomes a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import nativa

ROOT = Path(nativa.__file__).parent

# Higher numbers sit above lower ones (DESIGN.md: "cli and serve use agent, scale and the rest; agent uses
# models, sandbox, tools, memory, review, intent; nothing imports cli or serve"). Packages on one level may
# use each other only where ALLOWED says.
LEVEL = {
    "__main__": 7, "__init__": 7,
    "cli": 6,
    "serve": 5, "bench": 5,
    "scale": 4,
    "agent": 3,
    "intent": 2,
    "models": 1, "sandbox": 1, "tools": 1, "memory": 1, "review": 1, "data": 1,
    "tracing": 0, "prompts": 0, "config": 0, "errors": 0, "_version": 0,
}
ALLOWED = {
    ("tools", "sandbox"),   # the Python tool runs in a sandbox session
    ("tools", "data"),      # the sample database ships with the package
    ("memory", "models"),   # summaries and embeddings use a model
    ("review", "tools"),    # the policy reads SQL with the SQL tool's own parser
    ("bench", "serve"),     # benches start a server (as a process, or the app factory on Ray Serve) to measure it
}
BASE = {"tracing", "prompts", "config", "errors"}
TRACING_MAY_USE = {"config", "errors"}


def _package(root: Path, path: Path) -> str:
    return path.relative_to(root).parts[0].removesuffix(".py")


def _imports(root: Path, path: Path) -> set[str]:
    """The top-level nativa packages `path` imports, relative imports (`from ..agent import x`) included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = ["nativa", *path.relative_to(root).with_suffix("").parts]
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = ".".join(here[:-node.level]) if node.level else ""
            module = ".".join(p for p in (module, node.module or "") if p)
            # `from nativa import errors` and `from . import result` name the package in the imported names
            names = [module, *(f"{module}.{a.name}" for a in node.names)]
        for name in names:
            parts = name.split(".")
            # only modules count: `from nativa import __version__` reads the root package's metadata
            if parts[0] == "nativa" and len(parts) > 1 and ((root / parts[1]).is_dir()
                                                            or (root / f"{parts[1]}.py").is_file()):
                found.add(parts[1])
    return found


def violations(root: Path) -> list[str]:
    """Every import in the package at `root` that points up the layer order, as 'file imports nativa.x'."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        pkg = _package(root, path)
        for target in _imports(root, path):
            if target == pkg:
                continue
            if pkg == "tracing":
                ok = target in TRACING_MAY_USE
            elif target in BASE:
                ok = True
            else:
                ok = LEVEL.get(target, 99) < LEVEL.get(pkg, -1) or (pkg, target) in ALLOWED
            if not ok:
                wrong.append(f"{path.relative_to(root)} imports nativa.{target}")
    return wrong


def test_no_layer_imports_one_above_it() -> None:
    wrong = violations(ROOT)
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_every_package_has_a_level() -> None:
    packages = {p.name.removesuffix(".py") for p in ROOT.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert packages <= LEVEL.keys(), f"give these a level in LEVEL: {sorted(packages - LEVEL.keys())}"


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an import of a higher layer (absolute, relative, or inside a function) and any
    import from tracing into another package are reported; imports downwards and of the base are not."""
    files = {
        "intent/parser.py": "from nativa.agent._prompts import load_prompt\nfrom nativa.models.base import X\n",
        "sandbox/pool.py": "def f():\n    from ..cli import app\n",
        "tracing/view.py": "import nativa.models\nfrom nativa.config import Settings\n",
        "agent/code.py": "from nativa.prompts import load_prompt\nfrom nativa import errors\nfrom . import result\n",
        "models/local.py": "from nativa import agent\n",
        "serve/__init__.py": "from ..scale import worker\n",
    }
    (tmp_path / "cli").mkdir()
    (tmp_path / "errors.py").write_text("")
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert sorted(violations(tmp_path)) == [
        "intent/parser.py imports nativa.agent",
        "models/local.py imports nativa.agent",
        "sandbox/pool.py imports nativa.cli",
        "tracing/view.py imports nativa.models",
    ]
