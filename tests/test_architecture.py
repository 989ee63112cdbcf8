"""Design rule 1 and 2: the pure core imports no asyncio/ocpp/backends; nobody reads time around the clock."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PURE = ["chargepoint/controller", "chargepoint/smartcharging", "chargepoint/energy"]
FORBIDDEN_IN_PURE = ("asyncio", "ocpp", "websockets", "aiohttp", "backends", "serial", "pymodbus", "sqlite3")
#: The energy manager's async glue lives next to it and may use asyncio (nothing else of the list).
ASYNC_GLUE = {"chargepoint/services/energy.py": {"asyncio"}, "chargepoint/services/smart_charging.py": {"asyncio"}}
SOURCES = ["chargepoint", "hal", "backends", "scenarios"]


def _py_files(folder):
    base = ROOT / folder
    return sorted(base.rglob("*.py")) if base.exists() else []


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("folder", PURE)
def test_pure_core_imports_no_io(folder):
    bad = []
    for path in _py_files(folder):
        for name in _imports(path):
            allowed = ASYNC_GLUE.get(str(path.relative_to(ROOT)), set())
            if name.split(".")[0] in FORBIDDEN_IN_PURE and name.split(".")[0] not in allowed:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_hal_has_no_implementation_imports():
    for path in _py_files("hal"):
        for name in _imports(path):
            assert name.split(".")[0] not in ("backends", "chargepoint", "asyncio"), f"{path} imports {name}"


FORBIDDEN_CALLS = {("time", "time"), ("time", "monotonic"), ("datetime", "now"), ("datetime", "utcnow"),
                   ("asyncio", "sleep"), ("time", "sleep")}


def test_all_time_goes_through_the_clock():
    bad = []
    for folder in SOURCES:
        for path in _py_files(folder):
            rel = str(path.relative_to(ROOT))
            if rel == "chargepoint/clock.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = node.func.value
                    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
                    if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                        bad.append(f"{rel}:{node.lineno} calls {owner_name}.{node.func.attr}()")
    assert not bad, "time read around the clock:\n" + "\n".join(bad)
