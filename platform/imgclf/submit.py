"""Submit imgclf work to a Ray cluster as a Ray job (the Jobs API at the dashboard's http:// address) and follow it.

    job_id = submit("http://head:8265", ["python", "jobs/train.py", "--data", "data/digits"], working_dir=".")
    status = follow("http://head:8265", job_id)        # streams the job's logs; "SUCCEEDED", "FAILED" or "STOPPED"

The working folder is uploaded to the cluster and the entrypoint runs inside it, so relative paths in the
entrypoint mean paths inside that uploaded copy. Connection, token and request failures become one-line
`ConfigError`s naming the address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shlex
import sys
import time
from pathlib import Path
from typing import IO, Iterator, Sequence

from ray.exceptions import AuthenticationError

from imgclf.config import JOB_ENTRYPOINTS, REGISTRY_ENV
from imgclf.errors import ConfigError

# Never uploaded with the working folder: environments, history, demo/bench output, local results.
EXCLUDES = [".venv", ".git", ".demo", ".bench", "runs", "registry", "ray_results", "**/__pycache__"]
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")
ADDRESS_OVERRIDES = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")
DASHBOARD_SCHEMES = ("http://", "https://")


def is_dashboard_address(address: str | None) -> bool:
    """True for a Ray dashboard (Jobs API) address such as `http://127.0.0.1:8265`."""
    return bool(address) and address.startswith(DASHBOARD_SCHEMES)


def submit(
    address: str, entrypoint: Sequence[str], *, working_dir: str | Path, env: dict[str, str] | None = None
) -> str:
    """Submit `entrypoint` (an argument list, shell-quoted here) to run in `working_dir` on the cluster; return the job id."""
    client = job_client(address)
    # No WORKER_ENV here: imgclf's driver passes it to ray.init, and Ray refuses to merge a job's env_vars with
    # the driver's when they share a key ("Failed to merge the Job's runtime env ... because of a conflict").
    runtime_env = {"working_dir": str(working_dir), "excludes": list(EXCLUDES), "env_vars": dict(env or {})}
    with translated_errors(address):
        return client.submit_job(entrypoint=shlex.join(entrypoint), runtime_env=runtime_env)


def submit_work(address: str, work: str, arguments: Sequence[str], *, working_dir: str | Path = ".") -> str:
    """Submit `imgclf WORK ARGUMENTS` as `python jobs/<script> ARGUMENTS` running in an uploaded copy of
    `working_dir` (the imgclf source folder), with this shell's $IMGCLF_REGISTRY; return the job id."""
    folder = Path(working_dir).resolve()
    entrypoint = JOB_ENTRYPOINTS[work]
    if not (folder / entrypoint).is_file():
        raise ConfigError(f"{folder} has no {entrypoint}: run from the imgclf source folder, which is uploaded as the "
                          "Ray job's working folder")
    env = {REGISTRY_ENV: os.environ[REGISTRY_ENV]} if REGISTRY_ENV in os.environ else {}
    return submit(address, ["python", entrypoint, *arguments], working_dir=folder, env=env)


def split_address(arguments: Sequence[str], default: str | None = None) -> tuple[str | None, list[str]]:
    """`--address VALUE` or `--address=VALUE` taken out of `arguments`: its value (else `default`) and the rest."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    parser.add_argument("--address", default=default)
    try:
        known, rest = parser.parse_known_args(list(arguments))
    except argparse.ArgumentError:
        raise ConfigError("--address needs a value: the Ray dashboard, http://HOST:8265") from None
    return known.address, rest


def follow(address: str, job_id: str, *, out: IO[str] | None = None, poll_s: float = 1.0) -> str:
    """Stream the job's logs to `out` (default: the current sys.stdout) until it ends; return its final status
    (SUCCEEDED, FAILED or STOPPED)."""
    out = out if out is not None else sys.stdout
    client = job_client(address)
    printed = 0

    def write(text: str) -> None:
        nonlocal printed
        out.write(text)
        out.flush()
        printed += len(text)

    async def tail() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    with translated_errors(address):
        try:
            asyncio.run(tail())
        except OSError:
            pass  # the log stream broke (e.g. a dashboard restart): the polling below picks up the rest
        # The stream closes when the job ends; poll for the final status and any text the stream missed.
        while True:
            status = str(client.get_job_status(job_id).value)
            logs = client.get_job_logs(job_id)
            if len(logs) > printed:
                write(logs[printed:])
            if status in TERMINAL_STATUSES:
                return status
            time.sleep(poll_s)


def job_client(address: str):  # -> ray.job_submission.JobSubmissionClient
    """A Jobs API client for the dashboard at `address`; checks that it answers."""
    from ray.job_submission import JobSubmissionClient

    # Ray lets $RAY_API_SERVER_ADDRESS / $RAY_ADDRESS override an explicit address; the address given wins here.
    overriding = {name: os.environ.pop(name) for name in ADDRESS_OVERRIDES if name in os.environ}
    try:
        with translated_errors(address):
            return JobSubmissionClient(address)
    finally:
        os.environ.update(overriding)


@contextlib.contextmanager
def translated_errors(address: str) -> Iterator[None]:
    """Turn the Jobs API's connection, token and request failures into one-line ConfigErrors naming `address`."""
    try:
        yield
    except AuthenticationError as exc:
        raise ConfigError(
            f"the Ray dashboard at {address} wants a token ({one_line(str(exc).splitlines()[0])}): set "
            "RAY_AUTH_MODE=token and give the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        ) from exc
    except OSError as exc:  # builtin ConnectionError, requests' and aiohttp's connection errors
        raise ConfigError(f"cannot reach the Ray dashboard at {address}: {root_cause(exc)}") from exc
    except RuntimeError as exc:  # the client's "Request failed with status code ..." errors
        raise ConfigError(f"the Ray dashboard at {address} refused the request: {one_line(str(exc))}") from exc


def root_cause(exc: BaseException) -> str:
    """The innermost OS-level reason (`Connection refused`, `Name or service not known`), else the message."""
    reason, seen = one_line(str(exc)), set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            reason = current.strerror
        current = current.__cause__ or current.__context__
    return reason


def one_line(text: str) -> str:
    return " ".join(text.split())


def job_status(address: str, job_id: str) -> str:
    """PENDING, RUNNING, SUCCEEDED, FAILED or STOPPED; ConfigError for an unknown job id."""
    with translated_errors(address):
        return str(job_client(address).get_job_status(job_id).value)


def job_logs(address: str, job_id: str) -> str:
    with translated_errors(address):
        return job_client(address).get_job_logs(job_id)
