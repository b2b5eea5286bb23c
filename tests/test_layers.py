"""The layering of docs/architecture.md, read from the code's own imports (at module level
and inside functions): no module imports a higher layer, and no modules import each other in
a circle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "medfuse"

#: lowest first; a module may import its own layer and the ones below
LAYERS = (
    ("medfuse", "medfuse.plugins", "medfuse.limits", "medfuse.files", "medfuse.archives"),
    ("medfuse.data",),
    ("medfuse.preprocess",),
    ("medfuse.represent", "medfuse.persist"),
    ("medfuse.imaging", "medfuse.streams"),
    ("medfuse.fusion",),
    ("medfuse.evaluate", "medfuse.explain"),
    ("medfuse.report", "medfuse.predictor", "medfuse.intake", "medfuse.config",
     "medfuse.testing"),
    ("medfuse.study", "medfuse.serve"),
    ("medfuse.cli",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    best, level = -1, None
    for k, roots in enumerate(LAYERS):
        for root in roots:
            if (module == root or module.startswith(root + ".")) and len(root) > best:
                best, level = len(root), k
    return level


def imports() -> dict[str, set[str]]:
    """Module -> the medfuse modules it imports anywhere in its file."""
    modules = {module_name(p): p for p in SRC.rglob("*.py")}
    out = {}
    for name, path in modules.items():
        found = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level
                                                      + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target.startswith("medfuse") and target != name:
                    found.add(target)
        out[name] = found
    return out


def test_every_module_has_a_layer():
    assert not [m for m in imports() if layer(m) is None]


def test_no_module_imports_a_higher_layer():
    # the package itself (``medfuse/__init__.py``) only hands names on, lazily, and every
    # layer reads its ``__version__``: it is neither a source nor a target here
    upward = sorted(f"{m} -> {t}" for m, targets in imports().items() for t in targets
                    if "medfuse" not in (m, t) and layer(t) > layer(m))
    assert not upward, upward


def test_only_the_front_ends_import_the_domain_packages():
    # the imaging package plugs in through the representation registry (by path): fusion,
    # evaluation, explanation, reports and the prediction core never name it
    allowed = ("medfuse.imaging", "medfuse.cli", "medfuse.config", "medfuse.intake",
               "medfuse.study")
    naming = sorted(f"{m} -> {t}" for m, targets in imports().items() for t in targets
                    if t.startswith("medfuse.imaging") and not m.startswith(allowed))
    assert not naming, naming


def test_no_modules_import_each_other_in_a_circle():
    graph = {m: {t for t in targets if t != "medfuse"} for m, targets in imports().items()}
    # a package's __init__ hands names on; importing a submodule runs it, so an arrow to
    # the package and back from one of its modules is no circle of code
    for m in list(graph):
        graph[m] = {t for t in graph[m] if not m.startswith(t + ".")}
    state, circles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not circles, circles


def test_no_module_is_over_500_lines():
    long = {module_name(p): n for p in SRC.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long
