"""Run the generator: ``python collector/deploy/dashboards [--check]`` (or ``python -m dashboards`` from
``collector/deploy``)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__:
    from . import main
else:
    # Run as a directory, Python put this directory on sys.path instead of its parent: the package's relative
    # imports would fail and its modules (drift, names…) could shadow others. Import it as the package it is.
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))
    from dashboards import main

if __name__ == "__main__":
    sys.exit(main())
