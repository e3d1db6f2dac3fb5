"""``rawproc serve``'s start-up steps on a real data folder, each in a fresh interpreter.

Pending migrations are found with one query and applied only when there are some; a
migration that is not applied yet (here: rolled back, as a new one looks) is found and
applied; static files are collected only when their sources changed; a database that
cannot be reached is reported in one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.processes import clean_env

REPO = Path(__file__).resolve().parents[2]

STEPS = """
import json, sys
from rawproc.cli._django import collect_static, migrate, pending_migrations, setup
setup()
from django.core.management import call_command
app, target = sys.argv[1], sys.argv[2]
out = {"first": migrate(), "again": migrate()}
call_command("migrate", app, target, verbosity=0)
out["pending"] = pending_migrations()
out["applied"] = migrate()
out["after"] = pending_migrations()
out["static"] = [collect_static(), collect_static()]
print(json.dumps(out))
"""


def _python(code: str, *args: str, data: Path, extra: dict[str, str] | None = None) -> Any:
    env = clean_env({"RAWPROC_DATA_DIR": str(data), **(extra or {})})
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _migrations(app: str) -> list[str]:
    folder = REPO / "rawproc" / "migrations" if app == "rawproc" else None
    assert folder is not None
    return sorted(p.stem for p in folder.glob("0*.py"))


@pytest.mark.parametrize("back_to", ["zero", "0001_initial", "0002_warnings_detail"])
def test_migrations_applied_only_when_pending(tmp_path: Path, back_to: str) -> None:
    done = _python(STEPS, "rawproc", back_to, data=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    names = _migrations("rawproc")
    # A fresh folder: everything, Django's apps included, in dependency order.
    assert [m for m in out["first"] if m.startswith("rawproc.")] == [f"rawproc.{n}" for n in names]
    assert "auth.0001_initial" in out["first"]
    assert out["first"].index("auth.0001_initial") < out["first"].index("rawproc.0001_initial")
    # Up to date: nothing to apply, so migrate is not run.
    assert out["again"] == []
    # Migrations not applied yet are found, applied, and the schema is current again.
    newer = names if back_to == "zero" else names[names.index(back_to) + 1 :]
    assert out["pending"] == [f"rawproc.{n}" for n in newer]
    assert out["applied"] == out["pending"]
    assert out["after"] == []
    # Static files: collected on the first start, not again while their sources are the same.
    assert out["static"] == [True, False]
    assert (tmp_path / "data" / "static" / "admin").is_dir()


def test_static_files_collected_again_when_the_record_differs(tmp_path: Path) -> None:
    code = """
from pathlib import Path
from rawproc.cli._django import STATIC_FINGERPRINT, collect_static, setup
setup()
from django.conf import settings
first = collect_static()
(Path(settings.STATIC_ROOT) / STATIC_FINGERPRINT).write_text("sources of another version")
print(first, collect_static(), collect_static())
"""
    done = _python(code, data=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False"]


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@127.0.0.1:1/rawproc",  # nothing listens there
        "postgres://nobody@127.0.0.1:5432/no_such_database_here",
    ],
)
def test_serve_reports_an_unreachable_database(tmp_path: Path, url: str) -> None:
    env = clean_env({"RAWPROC_DATA_DIR": str(tmp_path / "data"), "DATABASE_URL": url})
    done = subprocess.run(
        [sys.executable, "-m", "rawproc.cli", "serve", "--port", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "rawproc serve: the database is unavailable" in done.stderr
    assert "Traceback" not in done.stderr
