"""The package's import graph runs one way: no cycles, no private names across modules.

The graph is read with ``ast`` from every ``alignuser`` module, counting top-level **and**
function-level imports (a cycle hidden in a function is still a cycle), but not imports under
``if TYPE_CHECKING:`` (annotations only). Any cycle fails, at any depth, and so does any
``_private`` name imported from another module of the package (make it public or move it to
where it is used). There is no list of known exceptions (issue 16 paid the last debts).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "alignuser"

def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for p in root.rglob("*.py"):
        parts = p.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def _imports(mods: dict[str, Path]):
    """``(edges, private)``: module -> imported modules; (module, from, private name)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    private: set[tuple[str, str, str]] = set()
    for m, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        package = m if path.name == "__init__.py" else m.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    dest = full if full in mods else target
                    if dest in mods and dest != m:
                        edges[m].add(dest)
                    name = alias.name
                    if (
                        dest in mods
                        and dest != m
                        and name.startswith("_")
                        and not name.startswith("__")
                    ):
                        private.add((m, target, name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in mods and alias.name != m:
                        edges[m].add(alias.name)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(frozenset(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_checker_finds_a_cycle_and_a_private_import(tmp_path):
    pkg = tmp_path / "alignuser"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("def f():\n    from alignuser.sub.b import g\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nfrom alignuser.sub.a import f\n"
        "from alignuser.sub.c import _hidden\nif TYPE_CHECKING:\n    from alignuser.sub import d\n"
    )
    (pkg / "sub" / "c.py").write_text("_hidden = 1\n")
    (pkg / "sub" / "d.py").write_text("from alignuser.sub.b import f\n")
    edges, private = _imports(_modules(pkg))
    assert _cycles(edges) == {frozenset({"alignuser.sub.a", "alignuser.sub.b"})}
    assert private == {("alignuser.sub.b", "alignuser.sub.c", "_hidden")}


def test_no_import_cycles():
    cycles = _cycles(_imports(_modules())[0])
    assert not cycles, f"import cycles: {[sorted(c) for c in cycles]}"


def test_private_names_stay_in_their_module():
    private = _imports(_modules())[1]
    assert not private, f"private names imported across modules: {sorted(private)}"


# Layers, lowest first; a module may import its own layer and the layers below it, never above.
# Packages on one line share a layer (simulation runs the evaluation's metrics writer, and
# the fidelity and judge protocols run simulations). A few leaf modules sit below their
# package: the action vocabulary (plain dataclasses) and the training settings (pydantic
# only), which the synthetic world and the scenario use.
LAYERS = [
    "alignuser errors registry threads interfaces env.actions training.config",
    "scenario_sections scenario",
    "data",
    "recommenders",
    "env",
    "personas memory",
    "state",
    "policy",
    "training",
    "preflight",
    "simulation evaluation",
    "demo testing cli_run cli __main__",
]
RANK = {name: i for i, line in enumerate(LAYERS) for name in line.split()}


def _layer(module: str) -> int:
    """The layer of ``alignuser.<package>[.<module>...]``: its own entry, else its package's."""
    parts = module.split(".")
    own = ".".join(parts[1:3])
    return RANK.get(own, RANK[parts[1] if len(parts) > 1 else parts[0]])


def test_every_module_has_a_layer():
    packages = {m.split(".")[1] for m in _modules() if m != "alignuser"}
    assert packages <= set(RANK), f"modules without a layer: {sorted(packages - set(RANK))}"


def test_imports_go_down_the_layers_only():
    edges = _imports(_modules())[0]
    up = sorted((a, b) for a, bs in edges.items() for b in bs if _layer(b) > _layer(a))
    assert not up, f"imports against the layer order of alignuser/__init__.py: {up}"


def _sizes(root: Path = ROOT):
    """``(long files, long functions)``: files over 400 lines, functions over 80 lines."""
    files, functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            files.append(str(path.relative_to(root.parent)))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.end_lineno - node.lineno + 1 > 80:
                    functions.append(f"{path.relative_to(root.parent)}:{node.name}")
    return files, functions


def test_the_size_check_finds_a_long_file_and_a_long_function(tmp_path):
    pkg = tmp_path / "alignuser"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    (pkg / "long.py").write_text("def f():\n" + body + "\n" + "y = 1\n" * 320)
    (pkg / "short.py").write_text("def g():\n" + body[: body.index("x79") - 4] + "\n")
    assert _sizes(pkg) == (["alignuser/long.py"], ["alignuser/long.py:f"])


def test_no_module_over_400_lines_and_no_function_over_80():
    files, functions = _sizes()
    assert not files, f"modules over 400 lines: {files}"
    assert not functions, f"functions over 80 lines: {functions}"
