"""The image's health check: exit 0 when `GET /api/v1/system/health` answers 200 on this container.

Run by the Dockerfile's HEALTHCHECK with the image's Python; reads `FACTFLOW_PORT` (default 8000).
A `degraded` server still answers 200; only an unhealthy or unreachable one fails the check.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Probe the local server once."""
    url = f"http://127.0.0.1:{os.environ.get('FACTFLOW_PORT', '8000')}/api/v1/system/health"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
