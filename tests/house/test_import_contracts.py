"""The layer contracts in pyproject.toml catch a lower layer importing a higher one.

`make lint` runs import-linter over the real tree; this test shows the contracts are not
vacuous: the same configuration, over a copy of the packages with one arrow turned upwards
(or one training import added to the serving path), must fail and name the broken contract.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("backend", "edge_models", "dataset_tools", "europeana_sync", "mobile_sdk_stubs", "benchmarks")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e .[dev])"
)


def _copy_tree(dest: Path) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.md", "*.json"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": str(LINT_IMPORTS.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("house")
    _copy_tree(dest)
    return dest


def _append(path: Path, line: str) -> str:
    before = path.read_text()
    path.write_text(before + "\n" + line + "\n")
    return before


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("edge_models/preprocessing.py", "import backend.engine.search  # noqa", "Layers: benchmarks"),
        ("dataset_tools/images.py", "import edge_models.runtime  # noqa", "Layers: benchmarks"),
        ("europeana_sync/__init__.py", "import backend.config  # noqa", "standalone library"),
        ("backend/engine/search.py", "import torch  # noqa", "Serving imports no training"),
    ],
)
def test_an_upward_or_forbidden_import_breaks_its_contract(
    tree: Path, module: str, bad_import: str, contract: str
) -> None:
    target = tree / module
    before = _append(target, bad_import)
    try:
        result = _lint(tree)
    finally:
        target.write_text(before)
    assert result.returncode != 0, result.stdout
    broken = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken), result.stdout


def test_the_tree_as_committed_keeps_every_contract(tree: Path) -> None:
    result = _lint(tree)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout
