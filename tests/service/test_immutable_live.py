"""Over HTTP against a real ``rawproc serve`` (gunicorn + a Celery worker), embedded stack:
a completed original cannot be replaced through its upload URL, a repeated upload becomes a
duplicate, and the storage audit of the server's data finds nothing out of step."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from harness.processes import clean_env
from tests.service.conftest import SMALL_RAW
from tests.service.live import RAWPROC, running_server, wait_done

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DATA = SMALL_RAW.read_bytes()
FAKE = b"<html>" + b"x" * (len(DATA) - 13) + b"</html>"


def test_completed_original_cannot_be_replaced_over_http(tmp_path: Path) -> None:
    with running_server(tmp_path, {}) as server:
        api = server.session("alice")
        created = api.post(
            f"{server.base}/api/uploads/",
            json={"filename": "leica.dng", "size": len(DATA)},
            timeout=30,
        ).json()
        url = created["upload"]["url"]

        def send(data: bytes) -> requests.Response:
            return requests.post(url, files={"file": ("x.dng", data)}, timeout=30)

        assert send(DATA).status_code == 204
        early = send(FAKE)
        assert (early.status_code, early.json()["code"]) == (409, "upload_already_written")
        assert api.post(created["complete_url"], timeout=30).status_code == 202
        asset = wait_done(api, created["asset"]["url"], server)
        assert asset["status"] == "ready", asset
        late = send(FAKE)
        assert (late.status_code, late.json()["code"]) == (409, "upload_already_written")
        original = api.get(asset["original_url"], timeout=30)
        assert (original.status_code, original.content) == (200, DATA)
        assert api.get(created["asset"]["url"], timeout=30).json()["sha256"] == asset["sha256"]

        again = api.post(
            f"{server.base}/api/uploads/",
            json={"filename": "same.dng", "size": len(DATA)},
            timeout=30,
        ).json()
        assert (
            requests.post(
                again["upload"]["url"], files={"file": ("same.dng", DATA)}, timeout=30
            ).status_code
            == 204
        )
        assert api.post(again["complete_url"], timeout=30).status_code == 202
        duplicate = wait_done(api, again["asset"]["url"], server)
        assert duplicate["error"]["code"] == "duplicate"
        assert duplicate["duplicate_of"] == asset["id"]

        audit = subprocess.run(
            [RAWPROC, "storage-audit", "--json", "--min-age", "0"],
            env=clean_env({"RAWPROC_DATA_DIR": str(tmp_path / "data")}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        report = json.loads(audit.stdout)
        assert audit.returncode == 0, audit.stderr
        assert (report["orphans"], report["missing"]) == (0, 0)
        assert report["objects"] == 1 + len(asset["variants"])
