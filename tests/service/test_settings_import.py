"""Settings without side effects: importing them creates nothing; production needs a key.

Each case is a fresh interpreter with a clean environment (no inherited database, broker
or key) and an empty data folder of its own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.processes import clean_env

REPO = Path(__file__).resolve().parents[2]


def _python(code: str, data: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env({"RAWPROC_DATA_DIR": str(data), "RAWPROC_ENV_FILE": "/nonexistent", **extra})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_importing_settings_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    done = _python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings';"
        "django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY))",
        data,
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 50  # development: a usable key without any file
    assert list(data.iterdir()) == []
    assert list(tmp_path.iterdir()) == [data]


def test_migrate_prepares_the_data_folder_and_keeps_one_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    migrate = (
        "from django.core.management import execute_from_command_line as run;"
        "run(['manage.py', 'migrate', '-v', '0'])"
    )
    first = _python(migrate, data, DJANGO_SETTINGS_MODULE="config.settings")
    assert first.returncode == 0, first.stderr
    key = (data / "secret_key").read_text()
    assert len(key) >= 50 and (data / "secret_key").stat().st_mode & 0o077 == 0
    assert (data / "broker" / "control").is_dir() and (data / "db.sqlite3").is_file()
    # Every later process reads the same key.
    shown = _python(
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings';"
        "django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
        data,
    )
    assert shown.stdout.strip() == key


def test_production_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data).mkdir()
    (data / "secret_key").write_text("a-key-of-this-machine-only" * 3)  # not enough
    done = _python(
        "from django.core.management import execute_from_command_line as run;"
        "run(['manage.py', 'check'])",
        data,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        ALLOWED_HOSTS="photos.example.com",
    )
    assert done.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in done.stderr
    assert "photos.example.com" in done.stderr and "same SECRET_KEY" in done.stderr
