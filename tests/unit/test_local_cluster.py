"""The prometheus.yml that `imgclf cluster up` writes, checked by promtool without a cluster (the real one:
tests/integration/cli/test_cluster_command.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from utils.monitoring import all_rules
from utils.system_binaries import require_binary

from imgclf.local_cluster import HeadNode, prometheus_config
from imgclf.observability import RULES_FILE, load_rules


def head(tmp_path: Path) -> HeadNode:
    return HeadNode("127.0.0.1:6379", "http://127.0.0.1:8265", tmp_path / "imgclf-head-x", 8080)


def test_the_config_loads_imgclfs_rules_by_absolute_path_and_promtool_accepts_it(tmp_path: Path) -> None:
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config(head(tmp_path)))
    written = yaml.safe_load(config.read_text())
    assert written["rule_files"] == [str(RULES_FILE.resolve())]
    assert Path(written["rule_files"][0]).is_absolute() and RULES_FILE.is_file()
    assert written["scrape_configs"][0]["file_sd_configs"][0]["files"] == [str(head(tmp_path).service_discovery_file)]
    done = subprocess.run([require_binary("promtool", "prometheus"), "check", "config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = len(list(all_rules(load_rules())))
    assert f"SUCCESS: {rules} rules found" in done.stdout + done.stderr  # promtool checked the rules file too


def test_no_rule_files_leaves_the_section_out(tmp_path: Path) -> None:
    written = yaml.safe_load(prometheus_config(head(tmp_path), rule_files=()))
    assert "rule_files" not in written and written["scrape_configs"][0]["job_name"] == "ray"
