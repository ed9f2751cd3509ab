"""A real S3 endpoint on this machine for tests: moto's server (the dev dependency moto[server]), in memory.

    with s3_server(host) as server:       # host: an address every reader reaches (a node in another namespace too)
        Registry(server.uri("models"))    # s3://imgclf/models?endpoint_override=HOST:PORT&scheme=http&region=...

Every process that reads or writes it needs S3_ENV in its environment: pyarrow's S3 client takes its credentials
from there (moto accepts any), and is told not to look for an EC2 metadata service.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow.fs as pafs

from utils.prerequisites import require_module

S3_ENV = {"AWS_ACCESS_KEY_ID": "imgclf-test", "AWS_SECRET_ACCESS_KEY": "imgclf-test",
          "AWS_EC2_METADATA_DISABLED": "true"}
BUCKET = "imgclf"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint: str  # HOST:PORT

    def uri(self, path: str) -> str:
        """A pyarrow S3 URI of `path` in the bucket, on this server."""
        return f"s3://{BUCKET}/{path}?endpoint_override={self.endpoint}&scheme=http&region={REGION}"


@contextlib.contextmanager
def s3_server(host: str = "127.0.0.1") -> Iterator[S3Server]:
    """moto's S3 server on `host` (a free port), with one empty bucket; stopped after."""
    server_module = require_module("moto.server", "moto[server]")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # not a log line per request
    server = server_module.ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    try:
        endpoint = "{}:{}".format(*server.get_host_and_port())
        client = pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", region=REGION,
                                   access_key=S3_ENV["AWS_ACCESS_KEY_ID"], secret_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
                                   allow_bucket_creation=True)
        client.create_dir(BUCKET)
        yield S3Server(endpoint)
    finally:
        server.stop()
