"""`imgclf cluster up|down|status`: a local Ray cluster, head (+ worker nodes) on this machine."""

from __future__ import annotations

import argparse
import subprocess

from imgclf.cli.options import positive_int
from imgclf.local_cluster import (
    LocalCluster,
    head_processes,
    ray_executable,
    recorded_cluster,
    start_cluster,
    stop_cluster,
)
from imgclf.observability import DASHBOARD_FILE, RULES_FILE


def register(commands: argparse._SubParsersAction) -> None:
    cluster = commands.add_parser("cluster", help="a local Ray cluster: head (+ worker nodes) on this machine",
                                  allow_abbrev=False)
    actions = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start a head with dashboard and metrics, plus optional worker nodes",
                            allow_abbrev=False)
    up.add_argument("--workers", type=int, default=0, help="extra worker nodes on this machine (default: %(default)s)")
    up.add_argument("--num-cpus", type=positive_int, help="CPUs each node offers (default: Ray's count)")
    up.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s; token auth "
                    "is on for any other address)")
    up.add_argument("--dashboard-port", type=positive_int, default=8265, help="default: %(default)s")
    up.add_argument("--metrics-port", type=positive_int, default=8080, help="default: %(default)s")
    up.set_defaults(handler=cluster_up)
    actions.add_parser("down", help="stop every process of the cluster `up` started",
                       allow_abbrev=False).set_defaults(handler=cluster_down)
    actions.add_parser("status", help="the cluster's addresses and Ray's resource summary",
                       allow_abbrev=False).set_defaults(handler=cluster_status)


def cluster_up(args: argparse.Namespace) -> int:
    cluster = start_cluster(workers=args.workers, num_cpus=args.num_cpus, host=args.host,
                            dashboard_port=args.dashboard_port, metrics_port=args.metrics_port)
    print(cluster_summary(cluster))
    return 0


def cluster_down(args: argparse.Namespace) -> int:
    cluster, stopped = stop_cluster()
    print(f"stopped {stopped} processes of the cluster at {cluster.head.address}")
    return 0


def cluster_status(args: argparse.Namespace) -> int:
    cluster = recorded_cluster()
    print(cluster_summary(cluster))
    if not head_processes(cluster.head):
        print("  state      DOWN: no process of it runs (`imgclf cluster down` clears the record)")
        return 1
    done = subprocess.run([ray_executable(), "status", "--address", cluster.head.address], capture_output=True,
                          text=True)
    print(done.stdout.strip() or done.stderr.strip())
    return 0 if done.returncode == 0 else 1


def cluster_summary(cluster: LocalCluster) -> str:
    head = cluster.head
    return "\n".join([
        f"Ray cluster up: head + {len(cluster.worker_dirs)} worker node(s)",
        f"  address    {head.address}        (ray.init / imgclf classify --address / ray start --address)",
        f"  dashboard  {head.dashboard_url}   (Jobs API: imgclf jobs submit --address, serve deploy --address)",
        f"  metrics    http://{head.address.rsplit(':', 1)[0]}:{head.metrics_port}/metrics",
        f"  prometheus prometheus --config.file={cluster.prometheus_file}   (loads imgclf's rules: {RULES_FILE})",
        f"  grafana    import {DASHBOARD_FILE}",
        "  stop       imgclf cluster down",
    ])
