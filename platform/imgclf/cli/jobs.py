"""`imgclf jobs submit|status|logs`: imgclf work as Ray jobs on a cluster (the Jobs API)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from imgclf.config import JOB_ENTRYPOINTS


def default_dashboard() -> str:
    address = os.environ.get("RAY_ADDRESS", "")
    return address if address.startswith(("http://", "https://")) else "http://127.0.0.1:8265"


def register(commands: argparse._SubParsersAction) -> None:
    jobs = commands.add_parser("jobs", help="run imgclf work as Ray jobs on a cluster (the Jobs API)",
                               allow_abbrev=False)
    actions = jobs.add_subparsers(dest="action", required=True, metavar="ACTION")
    submit = actions.add_parser(
        "submit", help="submit `classify` or `train` as a Ray job from this source folder; prints the job id",
        description="Submit a Ray job that runs `python jobs/batch_classify.py` or `python jobs/train.py` with the "
        "remaining arguments, uploading this folder as the job's working folder (relative paths then mean paths "
        "inside that copy: give data, registry and output as absolute paths or URIs the cluster can reach).",
        allow_abbrev=False,
    )
    submit.add_argument("work", choices=sorted(JOB_ENTRYPOINTS), help="what the job runs")
    submit.add_argument("arguments", nargs=argparse.REMAINDER, help="the options of `imgclf classify` or `imgclf train`")
    status = actions.add_parser("status", help="a job's status: PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED",
                                allow_abbrev=False)
    logs = actions.add_parser("logs", help="a job's logs", allow_abbrev=False)
    for action in (submit, status, logs):
        action.add_argument("--address", default=default_dashboard(),
                            help="the Ray dashboard, http://HOST:8265 (default: $RAY_ADDRESS or %(default)s)")
    for action in (status, logs):
        action.add_argument("job_id", help="the id `imgclf jobs submit` printed")
    logs.add_argument("--follow", action="store_true", help="stream until the job ends")
    submit.set_defaults(handler=submit_job)
    status.set_defaults(handler=show_status)
    logs.set_defaults(handler=show_logs)


def submit_job(args: argparse.Namespace) -> int:
    from imgclf.submit import submit_work

    address, arguments = split_submit_arguments(args.arguments, args.address)
    job_id = submit_work(address, args.work, arguments)
    print(job_id)
    print(f"imgclf jobs status --address {address} {job_id}; imgclf jobs logs --address {address} "
          f"--follow {job_id}", file=sys.stderr)
    return 0


def split_submit_arguments(arguments: Sequence[str], address: str) -> tuple[str, list[str]]:
    """`jobs submit WORK [--address URL] [--] ARGS...`: the dashboard address given after WORK (before any `--`)
    wins over the default; the rest, without the `--`, goes to the job."""
    from imgclf.submit import split_address

    separator = arguments.index("--") if "--" in arguments else len(arguments)
    given, before = split_address(arguments[:separator], address)
    return given, before + list(arguments[separator + 1 :])


def show_status(args: argparse.Namespace) -> int:
    from imgclf.submit import job_status

    print(job_status(args.address, args.job_id))
    return 0


def show_logs(args: argparse.Namespace) -> int:
    from imgclf.submit import follow, job_logs

    if not args.follow:
        print(job_logs(args.address, args.job_id), end="")
        return 0
    return 0 if follow(args.address, args.job_id) == "SUCCEEDED" else 1
