"""The layer contract in pyproject.toml holds, and a wrong arrow breaks it: `lint-imports` on a copy of the
code with one forbidden import added fails and names that import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("calsync", "sync", "backend", "admin_panel", "sandbox", "addin")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    # The copy comes first on the path, ahead of the editable install that points at the real tree.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True)


@pytest.fixture
def code_copy(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.xsd"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contract_holds_on_the_code_as_it_is(code_copy):
    result = lint_imports(code_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, wrong_import, broken",
    [
        ("sync/health.py", "import admin_panel.audit", "Floors"),  # the engine reaching up to the panel
        ("backend/auth.py", "import calsync.web", "Floors"),  # a blueprint importing the app factory's roof
        ("sync/links.py", "import flask", "never import the web"),  # the engine on Flask
        ("calsync/settings.py", "import sync.models", "Floors"),  # the ground reaching up
    ],
)
def test_a_wrong_arrow_breaks_the_contract(code_copy, module, wrong_import, broken):
    path = code_copy / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # noqa\n")
    result = lint_imports(code_copy)
    assert result.returncode == 1, result.stdout
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout
    assert wrong_import.split()[-1] in result.stdout
