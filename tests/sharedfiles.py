"""Where the workplace's shared files are: the real-world corpus and the SARIF schema (never committed).

``$PREFLIGHT_SHARED`` when set; else ``shared/`` beside this checkout (how the project is laid out
here); else ``/work/shared``, so that a clone made anywhere else on such a machine (``mktemp -d``)
still finds them. Tests that need them fail, never skip, when they are missing.
"""

from __future__ import annotations

import os
from pathlib import Path

_CANDIDATES = [
    *([Path(os.environ["PREFLIGHT_SHARED"])] if os.environ.get("PREFLIGHT_SHARED") else []),
    Path(__file__).resolve().parents[2] / "shared",
    Path("/work/shared"),
]
SHARED = next((p for p in _CANDIDATES if (p / "corpus").is_dir()), _CANDIDATES[0])
CORPUS = SHARED / "corpus"
SARIF_SCHEMA = SHARED / "schemas" / "sarif-schema-2.1.0.json"
