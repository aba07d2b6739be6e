"""A local S3-compatible server for tests: moto's server mode on loopback, driven through the
real S3 wire protocol (obstore in the service, boto3 to create buckets), stoppable and
restartable on the same port. Its objects outlive a restart: moto keeps them in this process."""

import uuid

import boto3
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from tests.helpers import free_port

ACCESS_KEY, SECRET_KEY = "test-access-key", "test-secret-key-never-shown"


class S3StandIn:
    """moto's S3 on 127.0.0.1, one bucket per test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = f"b-{uuid.uuid4().hex[:20]}"
        self._server: ThreadedMotoServer | None = None

    def start(self) -> None:
        """Serve (again) on the same port."""
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        """Stop answering: connections are refused until `start`."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self):
        """The official client, for what the service never does (creating a bucket)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def url(self, prefix: str = "uploads") -> str:
        """ORCH_STORAGE_URL of the test's bucket."""
        return f"s3://{self.bucket}/{prefix}"

    def settings(self, prefix: str = "uploads") -> dict:
        """Settings fields that point the service at this server."""
        return {
            "storage_url": self.url(prefix),
            "storage_endpoint": self.endpoint,
            "storage_access_key_id": ACCESS_KEY,
            "storage_secret_access_key": SecretStr(SECRET_KEY),
            "storage_timeout": 5.0,
            "storage_retries": 0,
        }

    def environment(self, prefix: str = "uploads") -> dict[str, str]:
        """The same, as a child process's environment."""
        return {
            "ORCH_STORAGE_URL": self.url(prefix),
            "ORCH_STORAGE_ENDPOINT": self.endpoint,
            "ORCH_STORAGE_ACCESS_KEY_ID": ACCESS_KEY,
            "ORCH_STORAGE_SECRET_ACCESS_KEY": SECRET_KEY,
            "ORCH_STORAGE_RETRIES": "0",
        }
