"""The alerting rules pass `promtool check rules` and their unit tests, and the tests cover every alert."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.collector.deploy.conftest import CACHE, DEPLOY, VM_BIN_ENV, find_binary, unavailable

RULES = DEPLOY / "prometheus" / "otel-mlmon-rules.yaml"
RULE_TESTS = DEPLOY / "prometheus" / "otel-mlmon-rules.test.yaml"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120, check=False)


def _alerts(rules: dict) -> list[str]:
    return [rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules(promtool: str) -> None:
    """promtool accepts the rules file (syntax, PromQL, templates) and finds every rule in it."""
    result = _run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(_alerts(yaml.safe_load(RULES.read_text())))
    assert f"SUCCESS: {count} rules found" in result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    """Every rule unit test (firing and non-firing cases, labels and annotations) passes under promtool."""
    result = _run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """Each alert in the rules file is expected to fire somewhere in the tests and to stay silent somewhere else."""
    alerts = set(_alerts(yaml.safe_load(RULES.read_text())))
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fired == set(), "alerts never expected to fire"
    assert alerts - quiet == set(), "alerts never expected to stay silent"
    assert fired | quiet <= alerts, "tests name alerts that do not exist"


def test_a_changed_threshold_fails_the_unit_tests(promtool: str, tmp_path: Path) -> None:
    """The unit tests pin the thresholds: raising the error-rate threshold to 50% makes promtool fail."""
    changed = RULES.read_text().replace(") > 0.05\n", ") > 0.5\n")
    assert changed != RULES.read_text()
    (tmp_path / RULES.name).write_text(changed)
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = _run(promtool, "test", "rules", str(tmp_path / RULE_TESTS.name))
    assert result.returncode != 0
    assert "MLInferenceErrorRateHigh" in result.stdout + result.stderr


@pytest.mark.e2e
def test_rule_unit_tests_pass_under_vmalert() -> None:
    """The same unit tests pass in VictoriaMetrics' vmalert-tool (MetricsQL engine), so vmalert users get the same alerts."""
    vm = find_binary(
        VM_BIN_ENV, CACHE / "victoria-metrics" / "usr" / "bin" / "victoria-metrics", ".ci/install-backends"
    )
    tool = Path(vm).parent / "vmalert-tool"
    if not os.access(tool, os.X_OK):
        unavailable(f"vmalert-tool not found next to {vm}")
    result = subprocess.run(
        [str(tool), "unittest", "--disableAlertgroupLabel", f"--files={RULE_TESTS.name}"],
        cwd=RULE_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
