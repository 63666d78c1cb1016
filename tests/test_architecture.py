"""The shape of the house: no import cycles inside `archiver/`, no import tucked inside a function,
and nothing in the library imports Celery (only `workers/` does).

The import graph is read from the package's own files with `ast`, so these tests see every module,
imported or not. Imports under `if TYPE_CHECKING:` are left out: they never run. Importing
`a.b.c` also runs `a/__init__.py` and `a/b/__init__.py`, so those count as edges too. Relative
imports (`from . import x`, `from ..y import z`) are resolved against the importing module's package
(for an `__init__.py`, the package itself).

"Inside a function" covers both import statements and import calls (`importlib.import_module(...)`,
`__import__(...)`) whose module name is known from the source (a string literal, a module-level
string constant, `__name__`, or an f-string starting with one of those) and names an `archiver`
module. The few places that import by name on purpose are listed in `DYNAMIC_IMPORTS_ALLOWED`, each
with its reason. A module-level import call with a known name is an edge of the graph like any import,
and so is one inside a function when the whole module name is known from the source: a cycle through
a lazy import is still a cycle of the design (only names known in part, such as the CLI's
``f"archiver.cli.{module}"``, cannot be followed).

The checks take source text (`imports`, `hidden_imports`), so the tests at the bottom show on small
made-up sources that each kind of import is seen.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archiver"

# Files that may import archiver modules by name inside a function, and why.
DYNAMIC_IMPORTS_ALLOWED = {
    "archiver/providers/registry.py":
        "the provider registry: finds provider modules by walking packages (any package registered, "
        "entry points included) and imports the shared markup capture on first use; a static import "
        "would make a cycle (config -> registry -> providers -> capture.fetch -> config)",
    "archiver/cli/main.py":
        "commands are loaded by name when they run, so `archiver --help` does not import every "
        "command's dependencies",
    "archiver/catalog/backend.py":
        "backends loaded by the URL scheme asked for: a local run does not load PostgreSQL's code",
    "archiver/storage/backend.py":
        "backends loaded by the URL scheme asked for: a local run does not load the S3 store's code",
    "archiver/catalog/core.py":
        "the search's modules (the query model, search.py, the syntax: pydantic) are imported by the first "
        "search, not with the Catalog every command opens",
    "archiver/cli/launch.py":
        "the console script starts an image worker for a capturing command before it imports the command "
        "line (archiver.cli.main), whose import is most of the start-up",
    "archiver/cli/arguments.py":
        "the search command's options are made from the search query's model (catalog.query: pydantic and "
        "the query syntax), imported when the search parser is built, not by every command's parser",
}
_IMPORT_FUNCTIONS = {"import_module", "__import__"}


class Import(NamedTuple):
    line: int
    modules: tuple[str, ...]  # absolute names; for `from m import a`, both "m" and "m.a"
    in_function: bool
    dynamic: bool  # an import call rather than an import statement


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts).removesuffix(".__init__")
        out[name] = path
    return out


def resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute name `from <level dots><target> import ...` means inside `module` (a package's
    own name when `is_package`, i.e. for its `__init__.py`)."""
    if not level:
        return target or ""
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    if keep < 1:
        raise ValueError(f"relative import beyond the top package in {module}")
    return ".".join([*parts[:keep], *([target] if target else [])])


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` assignments."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
            out[target.id] = value.value
    return out


def _known_prefix(node: ast.expr, module: str, package: str, constants: dict[str, str]) -> str:
    """The leading text of a string expression that is known from the source ("" if none)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return {"__name__": module, "__package__": package}.get(node.id, constants.get(node.id, ""))
    if isinstance(node, ast.JoinedStr):
        text = ""
        for value in node.values:
            plain = isinstance(value, ast.FormattedValue) and value.conversion == -1 and value.format_spec is None
            part = _known_prefix(value.value if plain else value, module, package, constants)
            if not part:
                break
            text += part
        return text
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _known_prefix(node.left, module, package, constants)
    return ""


def _import_call_target(call: ast.Call, module: str, package: str, constants: dict[str, str]) -> str | None:
    """For `importlib.import_module(...)` / `__import__(...)`, the module name as far as the source
    tells it (resolved when relative, "" when unknown); None for any other call."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name not in _IMPORT_FUNCTIONS or not call.args:
        return None
    text = _known_prefix(call.args[0], module, package, constants)
    if text.startswith("."):  # import_module(".x", package): relative to a package of archiver
        level = len(text) - len(text.lstrip("."))
        return resolve(package or module, True, level, text.lstrip(".") or None)
    return text


def imports(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every import in `source` (the text of `module`) that runs: statements, and import calls whose
    module name is known from the source; `if TYPE_CHECKING:` blocks are skipped."""
    tree = ast.parse(source)
    constants = _string_constants(tree)
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, in_function)
            return
        if isinstance(node, ast.Import):
            found.append(Import(node.lineno, tuple(a.name for a in node.names), in_function, False))
        elif isinstance(node, ast.ImportFrom):
            base = resolve(module, is_package, node.level, node.module)
            names = tuple(f"{base}.{a.name}" for a in node.names if a.name != "*")
            found.append(Import(node.lineno, (base, *names), in_function, False))
        elif isinstance(node, ast.Call):
            target = _import_call_target(node, module, package, constants)
            if target:
                found.append(Import(node.lineno, (target,), in_function, True))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _is_archiver(name: str) -> bool:
    return name == "archiver" or name.startswith("archiver.")


def hidden_imports(source: str, module: str, is_package: bool = False) -> list[int]:
    """The lines of `source` that import an archiver module inside a function."""
    return [i.line for i in imports(source, module, is_package)
            if i.in_function and any(_is_archiver(m) for m in i.modules)]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for found in imports(_read(path), name, path.name == "__init__.py"):
            if found.dynamic and found.in_function and not all(m in modules for m in found.modules):
                continue  # a name known only in part (reported unless allowed)
            for target in found.modules:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if prefix in modules and prefix != name:
                        edges.add(prefix)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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


def test_no_import_cycles_in_the_library() -> None:
    graph = _graph()
    assert len(graph) > 50  # the whole package was read
    assert _cycles(graph) == []


def test_an_import_by_full_name_inside_a_function_is_an_edge_of_the_graph() -> None:
    graph = _graph()
    assert "archiver.catalog.query" in graph["archiver.cli.arguments"]  # the search parser's lazy import
    assert "archiver.providers.markup" in graph["archiver.providers.registry"]
    assert "archiver.catalog.postgres" in graph["archiver.catalog.backend"]


def test_no_archiver_import_inside_a_function() -> None:
    hidden = []
    for name, path in sorted(_modules().items()):
        source = _read(path)
        allowed = path.relative_to(ROOT).as_posix() in DYNAMIC_IMPORTS_ALLOWED
        for found in imports(source, name, path.name == "__init__.py"):
            if found.in_function and any(_is_archiver(m) for m in found.modules) \
                    and not (found.dynamic and allowed):
                hidden.append(f"{name}:{found.line}")
    assert hidden == []


def test_the_allowed_dynamic_imports_name_real_files_with_a_reason() -> None:
    for path, reason in DYNAMIC_IMPORTS_ALLOWED.items():
        assert (ROOT / path).is_file(), path
        assert reason.strip(), path


def test_nothing_in_the_library_imports_celery() -> None:
    offenders = []
    for name, path in sorted(_modules().items()):
        for found in imports(_read(path), name, path.name == "__init__.py"):
            if any(m == "celery" or m.startswith("celery.") for m in found.modules):
                offenders.append(f"{name}:{found.line}")
    assert offenders == []


# --- the checkers, on made-up sources ---------------------------------------------------------------

def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve_against_the_package() -> None:
    assert resolve("archiver.storage.s3", False, 1, "local") == "archiver.storage.local"
    assert resolve("archiver.storage.s3", False, 1, None) == "archiver.storage"
    assert resolve("archiver.storage.s3", False, 2, "config") == "archiver.config"
    assert resolve("archiver.storage", True, 1, "base") == "archiver.storage.base"  # its __init__.py
    assert resolve("archiver.storage", True, 2, None) == "archiver"
    assert resolve("archiver.storage", False, 0, "os.path") == "os.path"

    found = imports("from . import base\nfrom .local import LocalStore\n", "archiver.storage.s3")
    assert [f.modules for f in found] == [("archiver.storage", "archiver.storage.base"),
                                          ("archiver.storage.local", "archiver.storage.local.LocalStore")]
    found = imports("from . import base\n", "archiver.storage", is_package=True)
    assert found[0].modules == ("archiver.storage", "archiver.storage.base")


def test_a_relative_import_inside_a_function_is_reported() -> None:
    source = (
        "import os\n"
        "def f():\n"
        "    import json\n"
        "    from .local import LocalStore\n"
        "    return LocalStore\n"
        "class C:\n"
        "    def g(self):\n"
        "        if os.environ:\n"
        "            from . import base\n"
        "        match self:\n"
        "            case _:\n"
        "                from ..config import settings\n"
    )
    assert hidden_imports(source, "archiver.storage.s3") == [4, 9, 12]
    assert hidden_imports("def f():\n    from . import base\n", "archiver.storage", is_package=True) == [2]


def test_an_import_call_inside_a_function_is_reported() -> None:
    source = (
        "import importlib\n"
        "from importlib import import_module\n"
        "MODULE = 'archiver.capture.fetch'\n"
        "def f(name):\n"
        "    importlib.import_module('archiver.storage.local')\n"
        "    import_module(MODULE)\n"
        "    __import__('archiver.config.settings')\n"
        "    importlib.import_module(f'{__name__}.{name}')\n"
        "    importlib.import_module(f'archiver.cli.{name}')\n"
        "    importlib.import_module('.local', __package__)\n"
        "    importlib.import_module('json')\n"
        "    importlib.import_module(name)\n"
        "    return lambda: importlib.import_module('archiver.dates')\n"
    )
    assert hidden_imports(source, "archiver.storage.s3") == [5, 6, 7, 8, 9, 10, 13]
    # At module level it is no hidden import but an edge of the graph.
    found = imports("import importlib\nimportlib.import_module('archiver.dates')\n", "archiver.x")
    assert found[1] == Import(2, ("archiver.dates",), False, True)
    assert hidden_imports("import importlib\nimportlib.import_module('archiver.dates')\n", "archiver.x") == []


def test_imports_under_type_checking_are_left_out() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from archiver.runtime import Runtime\n"
        "else:\n"
        "    import json\n"
        "def f():\n"
        "    if TYPE_CHECKING:\n"
        "        from . import base\n"
    )
    assert [f.modules for f in imports(source, "archiver.x")] == [("typing", "typing.TYPE_CHECKING"), ("json",)]
    assert hidden_imports(source, "archiver.x") == []
