"""`imgclf serve`'s options for a canary, corrections and the request log: what lands in the deployed config."""

from __future__ import annotations

from pathlib import Path

from imgclf.cli import build_parser
from imgclf.cli.serve import api_overrides, move_canary
from imgclf.serving.canary import PROMOTED, ROLLED_BACK, canary_of
from imgclf.serving.launcher import deployment, read_serve_config, with_overrides

SERVE_CONFIG = Path(__file__).resolve().parents[3] / "serve_config.yaml"


def deployed(*options: str) -> dict:
    args = build_parser().parse_args(["serve", *options])
    canary = {"version": args.canary, "weight": args.canary_weight} if args.canary else None
    return with_overrides(read_serve_config(SERVE_CONFIG), model=args.model, canary=canary, api=api_overrides(args))


def test_a_canary_and_its_weight_go_to_the_classifier() -> None:
    config = deployed("--model", "digits-vgg16:1", "--canary", "2", "--canary-weight", "20")
    assert canary_of(config) == {"version": "2", "weight": 20.0}
    assert deployment(config, "Classifier")["user_config"]["model"] == "digits-vgg16:1"
    assert canary_of(deployed()) is None


def test_corrections_and_the_request_log_go_to_the_api_as_absolute_folders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    api = deployment(deployed("--feedback-dir", "fixes", "--request-log", "log", "--request-log-sample", "0.5"),
                     "Api")["user_config"]
    assert api["feedback_dir"] == str(tmp_path / "fixes")
    assert api["request_log"] == {"folder": str(tmp_path / "log"), "sample": 0.5}
    assert "request_log" not in deployment(deployed(), "Api")["user_config"]


def test_promote_and_rollback_set_the_weight_they_name() -> None:
    for command, weight in (("promote", PROMOTED), ("rollback", ROLLED_BACK)):
        args = build_parser().parse_args(["serve", command, "--address", "http://head:8265"])
        assert (args.handler, args.weight, args.address, args.app) == (move_canary, weight, "http://head:8265", "imgclf")
    assert build_parser().parse_args(["serve", "promote", "--weight", "50"]).weight == 50
