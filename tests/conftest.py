"""Shared fixtures: seeded RNG, the shared datasets folder (skipped when absent), offline hub."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# policies trained by `checkpoint: auto` go to a cache of this test session, not the user's
os.environ["ALIGNUSER_CACHE"] = tempfile.mkdtemp(prefix="alignuser-test-cache-")

SHARED_DATA = Path(
    os.environ.get(
        "ALIGNUSER_SHARED_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    )
).resolve()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA} (set ALIGNUSER_SHARED_DATA)")
    return SHARED_DATA
