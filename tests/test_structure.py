"""The house rules, checked: one-way layering, no import circle, small files and functions, a light core.

Every rule here is one a contributor can break by accident; each check names the offender.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ric_runtime", "ric_core", "ric_eval", "rewards", "ric_diffusion", "ric_text", "ric_demo")
# what each layer may import from the project (itself included); app.py sits on top of everything
ALLOWED = {
    "ric_runtime": {"ric_runtime"},
    "ric_core": {"ric_core", "ric_runtime"},
    "ric_eval": {"ric_eval", "ric_core", "ric_runtime"},
    "rewards": {"rewards", "ric_core", "ric_runtime"},
    "ric_diffusion": {"ric_diffusion", "rewards", "ric_eval", "ric_core", "ric_runtime"},
    "ric_text": {"ric_text", "rewards", "ric_eval", "ric_core", "ric_runtime"},
    "ric_demo": {"ric_demo", "ric_diffusion", "ric_text", "rewards", "ric_eval", "ric_core", "ric_runtime"},
}


def python_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in (*PACKAGES, "tests", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def project_imports(path: Path) -> set[str]:
    """Project modules a file imports anywhere in it (lazy, function-level imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] in PACKAGES}
    return out


def import_graph() -> dict[str, set[str]]:
    files = [f for f in python_files() if f.parts[len(ROOT.parts)] in PACKAGES]
    modules = {module_name(f): f for f in files}
    graph = {}
    for name, f in modules.items():
        # "from pkg import mod" names a module when pkg/mod.py exists, else a symbol of pkg
        graph[name] = {m for m in project_imports(f) if m in modules and m != name}
    return graph


def test_layers_import_downwards_only():
    bad = []
    for name, deps in import_graph().items():
        layer = name.split(".")[0]
        bad += [f"{name} -> {d}" for d in deps if d.split(".")[0] not in ALLOWED[layer]]
    assert not bad, "imports against the layering (see docs/design in README 'Layout'): " + ", ".join(bad)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module are import circles."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def test_no_import_circles():
    graph = import_graph()
    # a package's __init__ re-exporting its modules is not a circle of code
    graph = {k: {d for d in v if not (k.startswith(d + ".") and d in PACKAGES)} for k, v in graph.items()}
    assert strongly_connected(graph) == []


def test_the_circle_finder_finds_circles():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_core_is_small_and_files_are_short():
    core = sum(len(f.read_text().splitlines()) for f in (ROOT / "ric_core").rglob("*.py"))
    assert core < 1500, f"ric_core has {core} lines; it holds the method only (goal < 1,500)"
    long = {str(f.relative_to(ROOT)): n for f in python_files() if (n := len(f.read_text().splitlines())) > 400}
    assert not long, f"files over 400 lines: {long}"


def test_functions_are_short():
    long = []
    for f in python_files():
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 60:
                    long.append(f"{f.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "functions over 60 lines: " + ", ".join(long)


@pytest.mark.parametrize("package", ["rewards", "ric_core", "ric_eval", "ric_runtime"])
def test_light_packages_do_not_import_torch(package):
    code = f"import sys, {package}; heavy = [m for m in ('torch', 'transformers', 'diffusers', 'open_clip') "
    code += "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, f"import {package} pulled in {r.stdout.strip()}"


def test_the_formatter_formats_everything():
    marks = ("# fmt: " + "skip", "# fmt: " + "off")  # spelled apart, so this file does not match itself
    opted_out = [
        f"{f.relative_to(ROOT)}:{i}"
        for f in python_files()
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if line.rstrip().endswith(marks)
    ]
    assert not opted_out, f"code opted out of ruff format: {opted_out}"
