"""`python -m mapper`: see mapper.cli."""

from __future__ import annotations

import gc
import sys

from .engine.cli import main

if __name__ == "__main__":
    code = main()
    # The process ends here: the collector need not walk every object the engine made on
    # the way out (13-32 ms of CPU of a 0.2 s start-up, measured; docs/performance.md).
    gc.freeze()
    sys.exit(code)
