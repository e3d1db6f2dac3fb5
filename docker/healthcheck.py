"""Container health check: ``GET /api/health/`` on this container's API server.

Exit 0 when it answers 200, 1 otherwise (Docker's HEALTHCHECK contract). The request
names the first concrete host of ``ALLOWED_HOSTS``, so the check passes whatever host
names the deployment allows; ``RAWPROC_HEALTH_URL`` overrides the address.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def _host() -> str:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    concrete = [h for h in hosts if "*" not in h and not h.startswith(".")]
    return concrete[0] if concrete else "localhost"


def main() -> int:
    url = os.environ.get("RAWPROC_HEALTH_URL", "http://127.0.0.1:8000/api/health/")
    request = urllib.request.Request(url, headers={"Host": _host()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
