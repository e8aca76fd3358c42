"""Capture's caps and timings, shared by the cell hooks, the record queue and the record builder."""
from __future__ import annotations

import os

# Captured stdout/stderr and text outputs are capped per cell (the user's display is not).
MAX_STREAM_CHARS = int(os.environ.get("MLNB_CAPTURE_MAX_CHARS", "20000"))
MAX_VALUE_CHARS = 200  # a variable's value is kept only when its text is this short
WORKER_POLL_S = float(os.environ.get("MLNB_CAPTURE_POLL", "0.05"))
# The capture thread waits for a pause between cells, so a burst of cells never competes
# with it for the GIL; past this many waiting records it works anyway (bounded memory).
IDLE_S = 0.02
MAX_WAITING = 5000
