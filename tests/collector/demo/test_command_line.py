"""``otel-mlmon`` itself: a command line without a command is a usage error that shows the help."""

from __future__ import annotations

import pytest

from otel_mlmon.cli import main


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """``otel-mlmon`` alone exits 2 (a usage error, so scripts notice) and prints the usage with the commands."""
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "usage: otel-mlmon" in err and "profile" in err
