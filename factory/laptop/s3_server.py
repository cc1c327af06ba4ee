"""A local S3-compatible server (moto's standalone server, a dev dependency) on 127.0.0.1: the
bucket of the tests and of `bench/storage_throughput.py`.

The process's environment points every S3 client at it (`AWS_ENDPOINT_URL`, fake credentials),
before Ray starts, so the driver, Ray workers and subprocesses (`ray job submit`) all reach the
same server over HTTP, as they would a real bucket; nothing is patched in-process. The tests'
server starts on the first test that asks for a bucket and stops with the session
(`tests/conftest.py`).
"""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def point_clients_at(port: int) -> None:
    """Environment for every S3 client of this process and its children."""
    os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                      AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")


class S3Server:
    """A moto server process on `port` (of the environment's AWS_ENDPOINT_URL)."""

    def __init__(self, port: int, log: Path):
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        server = Path(sys.executable).parent / "moto_server"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{self.port} in 30 s")

    def bucket(self) -> str:
        """A new empty bucket's URI, `s3://<name>`."""
        import boto3

        name = f"test-{uuid.uuid4().hex[:12]}"
        boto3.client("s3").create_bucket(Bucket=name)
        return f"s3://{name}"

    def requests(self) -> Counter:
        """Requests served so far by HTTP method (`GET`, `PUT`, ...), from the server's log."""
        return Counter(re.findall(r'"([A-Z]+) /', self.log.read_text(errors="replace")))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
