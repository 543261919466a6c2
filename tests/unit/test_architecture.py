"""The shape of the code (issue 15; CONTRIBUTING.md, "Layers"). Pure: reads the source, needs no database.

Five levels, each importing only from its own level or below:

    5 entry points: ``dsar`` (create_app), ``dsar.web.*``, ``dsar.api.*``, ``dsar.cli*``, ``dsar.demo*``, ``dsar.wsgi``
    4 job bodies: ``dsar.jobs.<module>`` (``dsar.jobs`` itself, the queue interface, is level 1)
    3 automated fulfilment: ``dsar.systems.*``
    2 use cases: ``dsar.services.*``
    1 everything else: models, policy, lifecycle, audit, files, deadlines, tokens, urls, serializers, …

No import cycle between modules (function-local imports count), no module over 600 lines, and a function-local import
of a dsar module says why it is not at the top, in a comment containing ``local import:`` on its line or just above.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import grimp

import dsar

ROOT = Path(dsar.__file__).parent
MAX_LINES = 600
ENTRY_POINTS = ("dsar.web", "dsar.api", "dsar.wsgi", "dsar.gunicorn_conf")
ENTRY_PREFIXES = ("dsar.cli", "dsar.demo")   # dsar.cli, dsar.cli_operations, dsar.demo_appdb, …
LEVEL_NAMES = {5: "entry points", 4: "job bodies", 3: "systems", 2: "services", 1: "the rest"}


def level(module: str) -> int:
    if (module == "dsar" or module.startswith(ENTRY_PREFIXES)
            or any(module == e or module.startswith(e + ".") for e in ENTRY_POINTS)):
        return 5
    if module.startswith("dsar.jobs."):
        return 4
    if module == "dsar.systems" or module.startswith("dsar.systems."):
        return 3
    if module == "dsar.services" or module.startswith("dsar.services."):
        return 2
    return 1


@functools.cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("dsar", include_external_packages=False, cache_dir=None)


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(("dsar", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(".__init__")
        found.append((name, path))
    return found


def ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(2, len(parts))}   # never the root: `import dsar` loads nothing else


@functools.cache
def imports_of(module: str) -> frozenset[str]:
    """What importing ``module`` runs: its direct imports, and the ``__init__`` of each package they sit in
    (``from dsar.services.routing.matching import x`` runs ``dsar/services/routing/__init__.py`` first), except
    the packages ``module`` itself sits in, which are already running."""
    direct = graph().find_modules_directly_imported_by(module)
    implied = set().union(*(ancestors(m) for m in direct)) if direct else set()
    return frozenset((direct | implied) - ancestors(module) - {module})


def where(importer: str, imported: str) -> list[str]:
    lines = [f"{importer} -> {imported} line {d['line_number']}: {d['line_contents']}"
             for d in graph().get_import_details(importer=importer, imported=imported)]
    return lines or [f"{importer} -> {imported}: a module of the package {imported} is imported, so its __init__ runs"]


def cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    g = graph()
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(g.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(imports_of(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(imports_of(child)))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_is_over_600_lines():
    long = [f"{path.relative_to(ROOT.parent)}: {n} lines" for _, path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split them into a package):\n" + "\n".join(long)


def test_no_import_cycle_between_modules():
    report = []
    for component in cycles():
        members = set(component)
        report.append(f"cycle of {len(component)}: {', '.join(component)}")
        for importer in component:
            for imported in sorted(imports_of(importer) & members):
                report.extend("    " + line for line in where(importer, imported))
    assert not report, "import cycles (function-local imports count):\n" + "\n".join(report)


def test_no_module_imports_from_a_higher_layer():
    g = graph()
    report = []
    for importer in sorted(g.modules):
        for imported in sorted(g.find_modules_directly_imported_by(importer)):
            if level(imported) > level(importer):
                report.extend(f"{line}  ({LEVEL_NAMES[level(importer)]} {level(importer)} importing "
                              f"{LEVEL_NAMES[level(imported)]} {level(imported)})" for line in where(importer, imported))
    assert not report, ("imports pointing up a layer (go up with a signal, a registry or a job queued by its dotted "
                        "path):\n" + "\n".join(report))


def _imports_dsar(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] == "dsar"
    if isinstance(node, ast.Import):
        return any(alias.name.split(".")[0] == "dsar" for alias in node.names)
    return False


def _has_reason(lines: list[str], lineno: int) -> bool:
    """``local import:`` on the import's line or on the run of imports and comments just above it."""
    i = lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if "local import:" in text:
            return True
        if not text.startswith(("from ", "import ", "#", ")")) and not text.endswith(","):
            return False
        i -= 1
    return False


def unexplained_local_imports(source: str) -> list[int]:
    lines = source.splitlines()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.update(sub.lineno for sub in ast.walk(node) if _imports_dsar(sub) and not _has_reason(lines, sub.lineno))
    return sorted(found)


def test_every_function_local_import_gives_its_reason():
    report = []
    for _, path in modules():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        report.extend(f"{path.relative_to(ROOT.parent)}:{n}: {lines[n - 1].strip()}"
                      for n in unexplained_local_imports(source))
    assert not report, ("function-local imports of dsar modules without a '# local import: <reason>' comment "
                        "(move them to the top, or say why they cannot be):\n" + "\n".join(report))


# --- the checks themselves ----------------------------------------------------------------------------------


def test_the_layers_are_the_documented_ones():
    assert [level(m) for m in ("dsar", "dsar.web.public.views", "dsar.api.schemas", "dsar.cli", "dsar.cli_directory",
                               "dsar.demo_appdb", "dsar.wsgi")] == [5] * 7
    assert level("dsar.jobs.outbox") == 4 and level("dsar.jobs") == 1
    assert level("dsar.systems.collection") == 3 and level("dsar.services.outbox") == 2
    assert [level(m) for m in ("dsar.models.outbox", "dsar.urls", "dsar.serializers", "dsar.webhooks_x")] == [1] * 4


def test_a_local_import_without_its_reason_is_found():
    source = '''
def f():
    from .models import Staff
    import os
    # local import: create_app is built on first use
    from . import create_app
    x = 1
    import dsar.x
'''
    lines = source.splitlines()
    assert [lines[n - 1].strip() for n in unexplained_local_imports(source)] == [
        "from .models import Staff", "import dsar.x"]
