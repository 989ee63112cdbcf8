"""The design rules that can be checked, checked: who may import whom, one clock, short files.

Rule 1 of DEVELOPERS.md (pure core, thin async shell) and the layering of docs/ARCHITECTURE.md:

* the **core** (``chargepoint/controller``, ``chargepoint/smartcharging``, ``chargepoint/energy``,
  ``chargepoint/iec61851``) imports only the standard library minus its I/O modules, ``hal`` (value
  types and interfaces), the other core folders and ``chargepoint/errors.py`` (the ``FieldError``
  base, which imports nothing).  Nothing of asyncio, ocpp, websockets, aiohttp, serial, pymodbus,
  sqlite3, no backend, and nothing else of ``chargepoint`` (station, runtime, app, api, services,
  ocpp, csms, config, ...);
* **backends** import of ``chargepoint`` only ``chargepoint.clock`` (the clock implementations),
  ``chargepoint.iec61851`` (the duty and proximity tables) and ``chargepoint.errors``; nothing of
  the controller, the smart-charging engine, the energy manager, the OCPP layer, the station, the
  runtime, the API or the services, and nothing of ``scenarios``;
* **hal** imports only the standard library (no asyncio), nothing of backends or chargepoint.

An import counts wherever it is written: at module level, inside a function, under
``if TYPE_CHECKING:``, relative (``from ..station import Station``), ``from chargepoint import
station``, and ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name.  An
import also counts when it is reached through one of our own modules that a rule allows (a core
module importing ``hal.types`` that imported ``chargepoint.station`` breaks the core rule too),
including the package ``__init__`` files that every import runs.

Rule 2 (one clock): nobody reads or sleeps on time around ``chargepoint/clock.py``.
Rule 7 (small, named parts): no file in ``chargepoint/`` is over 500 lines unless its module
docstring has a ``Long file:`` paragraph that says why.

The checker is tested on purpose-built trees with one violation each (``test_checker_*``), so a
rule that silently stopped matching would fail here.
"""

from __future__ import annotations

import ast
import pathlib
import re
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = ("chargepoint", "hal", "backends", "scenarios")
OWN_PACKAGES = frozenset(SOURCES) | {"tests", "benchmarks"}

CORE = ("chargepoint/controller", "chargepoint/smartcharging", "chargepoint/energy", "chargepoint/iec61851",
        "chargepoint/access")
#: Standard-library modules that do I/O, threads or real time: not for the pure core.
IO_STDLIB = ("asyncio", "sqlite3", "socket", "ssl", "selectors", "threading", "subprocess",
             "multiprocessing", "concurrent", "signal")
#: Third-party packages named by the rules (the core may import no third-party package at all).
IO_PACKAGES = ("ocpp", "websockets", "aiohttp", "serial", "serial_asyncio_fast", "pymodbus", "structlog",
               "yaml")


@dataclass(frozen=True)
class Rule:
    """Files under ``folders`` may not import a module matching ``forbidden`` unless it matches
    ``allowed`` (prefixes: ``"chargepoint"`` matches ``chargepoint`` and ``chargepoint.x.y``).
    ``stdlib_only`` also forbids every third-party package."""

    name: str
    folders: tuple[str, ...]
    forbidden: tuple[str, ...]
    allowed: tuple[str, ...] = ()
    stdlib_only: bool = False

    def breaks(self, module: str) -> bool:
        top = module.split(".")[0]
        if _matches(module, self.allowed):
            return False
        if _matches(module, self.forbidden):
            return True
        return self.stdlib_only and top not in sys.stdlib_module_names and top not in OWN_PACKAGES

    def covers(self, rel: str) -> bool:
        return any(rel == f or rel.startswith(f + "/") for f in self.folders)


RULES = (
    Rule("core", CORE,
         forbidden=(*IO_STDLIB, *IO_PACKAGES, "backends", "scenarios", "chargepoint"),
         allowed=(*(f.replace("/", ".") for f in CORE), "chargepoint.errors"),
         stdlib_only=True),
    Rule("backends", ("backends",),
         forbidden=("chargepoint", "scenarios", "tests"),
         allowed=("chargepoint.clock", "chargepoint.iec61851", "chargepoint.errors")),
    Rule("hal", ("hal",), forbidden=("asyncio", "backends", "chargepoint", "scenarios"), stdlib_only=True),
)


def _matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


# --- the import graph ---------------------------------------------------------------------------

def _module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class Import:
    line: int
    module: str


def _imports(source: str, module: str, is_package: bool, known: set[str]) -> Iterator[Import]:
    """Every module *source* (the text of ``module``) imports, resolved to absolute names."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                if node.level > 1:
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                # ``from chargepoint import station`` imports the module chargepoint.station
                yield Import(node.lineno, sub if sub in known or not base else base)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str) and _is_dynamic_import(node.func)):
            yield Import(node.lineno, node.args[0].value)


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@dataclass
class Tree:
    """The Python files of ``SOURCES`` under ``root`` with what each imports."""

    root: pathlib.Path
    files: dict[str, str]                  # module name -> path relative to root
    imports: dict[str, list[Import]]       # module name -> its imports

    @classmethod
    def scan(cls, root: pathlib.Path) -> Tree:
        paths = [p for folder in SOURCES if (root / folder).exists() for p in sorted((root / folder).rglob("*.py"))]
        files = {_module_name(str(p.relative_to(root))): str(p.relative_to(root)) for p in paths}
        known = set(files)
        imports = {
            mod: list(_imports((root / rel).read_text(encoding="utf-8"), mod, rel.endswith("__init__.py"), known))
            for mod, rel in files.items()
        }
        return cls(root, files, imports)

    def edges(self, module: str, rule: Rule) -> set[str]:
        """Our own modules that importing ``module`` runs by imports ``rule`` allows (a forbidden
        import is reported where it is written, not followed), with the packages they run."""
        out: set[str] = set()
        for imp in self.imports.get(module, []):
            if rule.breaks(imp.module):
                continue
            out.update(name for name in (*_parents(imp.module), imp.module) if name in self.files)
        return out

    def violations(self, rule: Rule) -> list[str]:
        bad: list[str] = []
        for module, rel in sorted(self.files.items()):
            if not rule.covers(rel):
                continue
            for imp in self.imports[module]:
                if rule.breaks(imp.module):
                    bad.append(f"{rel}:{imp.line} imports {imp.module} ({rule.name} rule)")
            # what it reaches through our own modules that are outside the rule's folders
            seen = {module}
            start = self.edges(module, rule) | {p for p in _parents(module) if p in self.files}
            todo = [(m, [m]) for m in sorted(start)]
            while todo:
                current, chain = todo.pop()
                if current in seen:
                    continue
                seen.add(current)
                if rule.covers(self.files[current]):
                    continue                      # checked on its own
                for imp in self.imports[current]:
                    if rule.breaks(imp.module):
                        bad.append(f"{rel} imports {imp.module} via {' -> '.join(chain)} "
                                   f"({self.files[current]}:{imp.line}, {rule.name} rule)")
                todo.extend((m, [*chain, m]) for m in sorted(self.edges(current, rule)) if m not in seen)
        return bad


# --- file length ----------------------------------------------------------------------------------

MAX_LINES = 500
_LONG_REASON = re.compile(r"^\s*Long file:\s*(?P<why>\S.*)", re.MULTILINE)


def long_files(root: pathlib.Path, folder: str = "chargepoint", limit: int = MAX_LINES) -> list[str]:
    """Files under ``folder`` over ``limit`` lines whose docstring gives no ``Long file:`` reason
    (a reason is at least a short sentence: 30 characters)."""
    bad: list[str] = []
    for path in sorted((root / folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= limit:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        match = _LONG_REASON.search(doc)
        if match is None or len(match.group("why").strip()) < 30:
            bad.append(f"{path.relative_to(root)}: {lines} lines and no 'Long file: <why>' in its docstring")
    return bad


# --- the rules on this repository -----------------------------------------------------------------

@pytest.fixture(scope="module")
def tree() -> Tree:
    return Tree.scan(ROOT)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_import_rules(tree, rule):
    bad = tree.violations(rule)
    assert not bad, "\n".join(bad)


def test_every_core_folder_exists(tree):
    # a renamed folder would make the core rule check nothing
    for folder in CORE:
        assert any(rel.startswith(folder + "/") for rel in tree.files.values()), folder


def test_errors_module_imports_nothing_of_ours(tree):
    # the core and the backends may import it because it imports nothing else of the project
    assert "chargepoint.errors" in tree.files
    assert not [i for i in tree.imports["chargepoint.errors"] if i.module.split(".")[0] in OWN_PACKAGES]


def test_no_long_file_without_a_reason():
    bad = long_files(ROOT)
    assert not bad, "\n".join(bad)


FORBIDDEN_CALLS = {("time", "time"), ("time", "monotonic"), ("datetime", "now"), ("datetime", "utcnow"),
                   ("asyncio", "sleep"), ("time", "sleep")}


def clock_violations(root: pathlib.Path) -> list[str]:
    bad = []
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")) if (root / folder).exists() else []:
            rel = str(path.relative_to(root))
            if rel == "chargepoint/clock.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = node.func.value
                    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
                    if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                        bad.append(f"{rel}:{node.lineno} calls {owner_name}.{node.func.attr}()")
    return bad


def test_all_time_goes_through_the_clock():
    bad = clock_violations(ROOT)
    assert not bad, "time read around the clock:\n" + "\n".join(bad)


# --- the checker on purpose-built trees -----------------------------------------------------------

def _write(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


#: A minimal clean tree shaped like ours.
CLEAN = {
    "chargepoint/__init__.py": "",
    "chargepoint/errors.py": "class FieldError(ValueError):\n    pass\n",
    "chargepoint/clock.py": "import asyncio\n",
    "chargepoint/station.py": "import asyncio\nfrom chargepoint.energy.manager import X\n",
    "chargepoint/runtime.py": "", "chargepoint/app.py": "",
    "chargepoint/api/__init__.py": "", "chargepoint/services/__init__.py": "",
    "chargepoint/ocpp/__init__.py": "import ocpp\n",
    "chargepoint/controller/__init__.py": "from chargepoint.controller.types import T\n",
    "chargepoint/controller/types.py": "from dataclasses import dataclass\nfrom hal.types import SetPilot\n",
    "chargepoint/smartcharging/__init__.py": "", "chargepoint/smartcharging/engine.py": "import math\n",
    "chargepoint/energy/__init__.py": "",
    "chargepoint/energy/manager.py": (
        "from __future__ import annotations\nfrom chargepoint.controller.types import T\n"
        "from chargepoint.errors import FieldError\nfrom . import settings\nfrom .settings import S\n"
        "from chargepoint.iec61851.duty import duty\n"),
    "chargepoint/energy/settings.py": "from ..errors import FieldError\n",
    "chargepoint/iec61851/duty.py": "import math\n",
    "hal/__init__.py": "from hal.types import SetPilot\n",
    "hal/types.py": "from dataclasses import dataclass\nfrom enum import StrEnum\n",
    "hal/clock.py": "from typing import Protocol\n",
    "backends/__init__.py": "",
    "backends/sim/__init__.py": (
        "import asyncio\nfrom chargepoint.clock import RealClock\nfrom chargepoint.iec61851.duty import duty\n"
        "from hal.clock import Clock\nfrom chargepoint.errors import FieldError\n"),
}


def _check(tmp_path: pathlib.Path, extra: dict[str, str]) -> dict[str, list[str]]:
    _write(tmp_path, {**CLEAN, **extra})
    tree = Tree.scan(tmp_path)
    return {rule.name: tree.violations(rule) for rule in RULES}


def test_checker_passes_the_clean_tree(tmp_path):
    assert _check(tmp_path, {}) == {"core": [], "backends": [], "hal": []}


CORE_FORBIDDEN = ["asyncio", "ocpp", "websockets", "aiohttp", "serial", "pymodbus", "sqlite3", "backends",
                  "backends.sim", "chargepoint.station", "chargepoint.runtime", "chargepoint.app",
                  "chargepoint.api", "chargepoint.services", "chargepoint.ocpp", "scenarios", "yaml"]


@pytest.mark.parametrize("module", CORE_FORBIDDEN)
@pytest.mark.parametrize("folder", CORE)
def test_checker_catches_each_forbidden_core_import(tmp_path, folder, module):
    found = _check(tmp_path, {f"{folder}/bad.py": f"import {module}\n"})
    assert found["core"] == [f"{folder}/bad.py:1 imports {module} (core rule)"]


@pytest.mark.parametrize(("source", "imported"), [
    ("from chargepoint import station\n", "chargepoint.station"),
    ("from chargepoint.station import Station\n", "chargepoint.station"),
    ("from .. import station\n", "chargepoint.station"),
    ("from ..station import Station\n", "chargepoint.station"),
    ("from ..ocpp import session\n", "chargepoint.ocpp"),
    ("def f():\n    import chargepoint.runtime\n", "chargepoint.runtime"),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from chargepoint.api import App\n",
     "chargepoint.api"),
    ("import importlib\nM = importlib.import_module('chargepoint.services')\n", "chargepoint.services"),
    ("X = __import__('asyncio')\n", "asyncio"),
    ("from asyncio import sleep\n", "asyncio"),
])
def test_checker_catches_every_form_of_import(tmp_path, source, imported):
    found = _check(tmp_path, {"chargepoint/energy/bad.py": source})
    assert [v.split(" imports ")[1].split(" ")[0] for v in found["core"]] == [imported]


def test_checker_sees_imports_through_allowed_modules(tmp_path):
    # hal.types is allowed in the core, but if it dragged the station in, the core would be impure
    found = _check(tmp_path, {"hal/types.py": "import chargepoint.station\n"})
    assert "chargepoint/controller/types.py imports chargepoint.station via hal.types" in "\n".join(found["core"])
    assert found["hal"] == ["hal/types.py:1 imports chargepoint.station (hal rule)"]
    # a package __init__ runs on every import of the package
    found = _check(tmp_path, {"chargepoint/__init__.py": "from chargepoint import runtime\n"})
    assert any("imports chargepoint.runtime via chargepoint" in v for v in found["core"])


@pytest.mark.parametrize("module", ["chargepoint.controller", "chargepoint.controller.types",
                                    "chargepoint.smartcharging", "chargepoint.energy", "chargepoint.ocpp",
                                    "chargepoint.station", "chargepoint.runtime", "chargepoint.api",
                                    "chargepoint.services", "scenarios"])
def test_checker_catches_each_forbidden_backend_import(tmp_path, module):
    found = _check(tmp_path, {"backends/sim/bad.py": f"def f():\n    from {module} import x\n"})
    assert found["backends"] == [f"backends/sim/bad.py:2 imports {module} (backends rule)"]


@pytest.mark.parametrize("module", ["backends", "backends.sim", "chargepoint", "chargepoint.clock",
                                    "chargepoint.errors", "asyncio", "serial"])
def test_checker_catches_each_forbidden_hal_import(tmp_path, module):
    found = _check(tmp_path, {"hal/bad.py": f"import {module}\n"})
    assert found["hal"] == [f"hal/bad.py:1 imports {module} (hal rule)"]


def test_checker_catches_a_long_file_without_a_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    _write(tmp_path, {
        "chargepoint/short.py": '"""Short."""\n' + "x = 1\n" * (MAX_LINES - 1),
        "chargepoint/long.py": '"""Long, and says nothing about it."""\n' + body,
        "chargepoint/lazy.py": '"""Lazy.\n\nLong file: because.\n"""\n' + body,
        "chargepoint/sub/why.py": ('"""Why.\n\nLong file: the table of the 40 OCPP keys reads best as one '
                                   'piece.\n"""\n' + body),
    })
    assert long_files(tmp_path) == [
        f"chargepoint/lazy.py: {MAX_LINES + 4} lines and no 'Long file: <why>' in its docstring",
        f"chargepoint/long.py: {MAX_LINES + 1} lines and no 'Long file: <why>' in its docstring",
    ]


def test_checker_catches_time_read_around_the_clock(tmp_path):
    _write(tmp_path, {"chargepoint/clock.py": "import time\nt = time.monotonic()\n",
                      "backends/x.py": "import time\nt = time.time()\n",
                      "scenarios/y.py": "import datetime\nt = datetime.datetime.now()\n"})
    assert clock_violations(tmp_path) == ["backends/x.py:2 calls time.time()",
                                          "scenarios/y.py:2 calls datetime.now()"]
