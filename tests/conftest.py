"""Shared pytest fixtures.

Tests that need the data sets in ``../shared`` ask for the ``shared_datasets`` fixture;
it skips with a reason when the folder is absent, so the suite runs on any clone.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("ARTSNAP_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"shared data folder {SHARED_DIR} is absent")
    return SHARED_DIR


@pytest.fixture(scope="session")
def shared_datasets(shared_dir: Path) -> Path:
    path = shared_dir / "datasets"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def wikiart_zip(shared_datasets: Path) -> Path:
    path = shared_datasets / "wikiart-styles-3500.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def cifar_zip(shared_datasets: Path) -> Path:
    path = shared_datasets / "cifar10-jpeg.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def europeana_fixtures(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / "europeana"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path
