"""Access to the optional RAW sample corpus.

The corpus is not part of the repository. Tests that need it call ``sample()`` and are
skipped, with the reason printed, when it is absent. ``RAWPROC_SAMPLES_DIR`` points at it;
by default it is looked for in ``../shared/samples`` beside the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def samples_dir() -> Path | None:
    configured = os.environ.get("RAWPROC_SAMPLES_DIR")
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "samples"
    return candidate if candidate.is_dir() else None


def sample(relpath: str) -> Path:
    """Return the path of a corpus file, or skip the calling test when it is unavailable."""
    root = samples_dir()
    if root is None:
        pytest.skip("RAW sample corpus not found (set RAWPROC_SAMPLES_DIR to enable this test)")
    path = root / relpath
    if not path.is_file():
        pytest.skip(f"sample {relpath} is not in the corpus at {root}")
    return path
