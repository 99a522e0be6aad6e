"""Every conformance suite checks independently of what the plugin reports (issue 19, item 3)."""
from __future__ import annotations

import json

AUTHOR = ("kel-author-plugin",)


def test_a_lying_exporter_fails_the_exporter_suite_with_a_message_that_says_so(kelcore, plugin_env):
    env = plugin_env(*AUTHOR)
    lying = kelcore("check", "lying-npz", "--json", env=env)
    assert lying.returncode == 1, lying.stdout + lying.stderr
    results = {r["check"]: r for r in json.loads(lying.stdout)["results"]}
    failed = results["check_exporter_files_match_pytorch"]
    assert failed["status"] == "FAIL"
    assert "the file read back through LyingNpzExporter.load differs from PyTorch" in failed["message"]
    assert "but export() reported max_abs_error = 0" in failed["message"]
    honest = kelcore("check", "npz", "--json", env=env)
    assert honest.returncode == 0, honest.stdout
    assert {r["check"]: r["status"] for r in json.loads(honest.stdout)["results"]} == {
        "check_exporter_round_trip": "PASS", "check_exporter_files_match_pytorch": "PASS"}
