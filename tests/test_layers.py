"""The layers of docs/architecture.md hold on the real code: import-linter's contracts
(pyproject.toml) for the packages, the imports of the top-level modules read here, and what
building the production web server really loads."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from connectors import CONNECTORS
from db.models import PLATFORM_KINDS
from settings import PROJECT_ROOT

PACKAGES = ("api", "dashboard", "web", "jobs", "connectors", "db", "simulators", "forecasting")
ENTRY_POINTS = {"app", "cli", "embedded", "worker"}
# The bottom of the stack and what each may import of ours.
BOTTOM = {"records": set(), "settings": set(), "logs": set()}
NOT_IN_THE_WEB_SERVER = ("simulators", "apscheduler", "tensorflow", "keras", "pmdarima", "graphql")


def project_imports(path: Path) -> set[str]:
    """The top-level names of the project's modules that `path` imports (anywhere in the file)."""
    ours = {*PACKAGES, *ENTRY_POINTS, *(p.stem for p in PROJECT_ROOT.glob("*.py"))}
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found & ours


def source_files() -> list[Path]:
    files = [p for p in PROJECT_ROOT.glob("*.py")]
    for package in PACKAGES:
        files += [p for p in (PROJECT_ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    return files


def test_the_import_contracts_hold():
    result = subprocess.run(
        [Path(sys.executable).parent / "lint-imports", "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_bottom_modules_import_nothing_of_ours():
    for module, allowed in BOTTOM.items():
        assert project_imports(PROJECT_ROOT / f"{module}.py") <= allowed, module


def test_only_entry_points_import_entry_points():
    for path in source_files():
        if path.stem in ENTRY_POINTS and path.parent == PROJECT_ROOT:
            continue
        assert not project_imports(path) & ENTRY_POINTS, path.relative_to(PROJECT_ROOT)


def test_the_production_web_server_loads_no_simulator_scheduler_or_model(tmp_path):
    """What gunicorn builds (`app:server`), in a fresh interpreter: the demo's simulators (and the
    GraphQL library they serve with), APScheduler and the forecasting libraries stay out."""
    code = (
        "import sys, app; app.server; "
        f"print(sorted({{m.partition('.')[0] for m in sys.modules}} & {set(NOT_IN_THE_WEB_SERVER)!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "sqlite://", "CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_database_knows_every_connector_kind():
    """db/ may not import connectors/, so platforms.kind's allowed values are listed there too."""
    assert tuple(CONNECTORS) == PLATFORM_KINDS
