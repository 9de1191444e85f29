"""``python -m otel_mlmon_collector.offline``: the ``otel-mlmon drift`` command without the console script."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
