"""`python -m factflow_embeddings list|search`."""

from __future__ import annotations

import sys

from ._inspect import main

sys.exit(main())
