"""Files in an S3-compatible object store, through boto3 (the optional extra creditdesk[s3]).

Why boto3 rather than a small SigV4 client of our own over requests: signing is only the start
of talking to S3 stores — regional endpoints, path- versus virtual-host-style addressing,
retries with back-off on 500/503/SlowDown, error codes — and boto3 is AWS's own, tested
against every store that calls itself S3-compatible. It is imported only when STORAGE_URL
names an s3:// store, so the embedded default and local-folder deployments carry nothing extra.

A single PUT is atomic in S3: readers see the old object or the new one, never part of it.
"""
from __future__ import annotations

import os
import posixpath
import secrets

from app.core.storage import StorageUnavailable, StoredFile, check_key

MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


class S3Store:
    # What STORAGE_URL's query may set (everything else is refused at start).
    OPTIONS = {"endpoint", "region", "addressing", "connect_timeout", "read_timeout",
               "max_attempts"}

    def __init__(self, bucket: str, prefix: str = "", endpoint: str | None = None,
                 region: str | None = None, addressing: str | None = None,
                 connect_timeout: str = "5", read_timeout: str = "30",
                 max_attempts: str = "3"):
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ValueError("STORAGE_URL names an s3:// store: install the s3 extra "
                             "(pip install 'creditdesk[s3]', which brings boto3)") from exc
        if prefix:
            check_key(prefix)
        self.bucket, self.prefix, self.endpoint = bucket, prefix, endpoint
        config = Config(
            region_name=region or "us-east-1",
            # Self-hosted stores (MinIO, Ceph, moto) are addressed by path; AWS by host name.
            s3={"addressing_style": addressing or ("path" if endpoint else "auto")},
            connect_timeout=float(connect_timeout), read_timeout=float(read_timeout),
            retries={"max_attempts": int(max_attempts), "mode": "standard"},
            # Newer botocore adds CRC checksums to every upload, which several S3-compatible
            # stores refuse; send and check them only where the API requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._make = lambda: boto3.session.Session().client("s3", endpoint_url=endpoint,
                                                            config=config)
        self._client, self._pid = self._make(), os.getpid()

    @property
    def client(self):
        # RQ forks a work horse per job: a child gets its own client (and connection pool)
        # rather than sockets it shares with its parent.
        if self._pid != os.getpid():
            self._client, self._pid = self._make(), os.getpid()
        return self._client

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _failed(self, operation: str, key: str, exc: Exception) -> StorageUnavailable:
        return StorageUnavailable(operation, key, f"{type(exc).__name__}: {exc}")

    def put(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data,
                                   ContentType="application/octet-stream")
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("put", key, exc) from exc

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            return answer["Body"].read()
        except ClientError as exc:
            if _code(exc) in MISSING_CODES:
                return None
            raise self._failed("get", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failed("get", key, exc) from exc

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._name(key))
            return True
        except ClientError as exc:
            if _code(exc) in MISSING_CODES:
                return False
            raise self._failed("exists", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failed("exists", key, exc) from exc

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("delete", key, exc) from exc

    def list(self, prefix: str) -> list[StoredFile]:
        from botocore.exceptions import BotoCoreError, ClientError

        strip = len(self.prefix) + 1 if self.prefix else 0
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full)
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(StoredFile(item["Key"][strip:], item["Size"],
                                            item["LastModified"]))
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("list", prefix, exc) from exc
        return sorted(found, key=lambda f: f.key)

    def create_bucket(self) -> bool:
        """Make the bucket unless it exists (first deploy); True when it was made."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return False
            except ClientError as exc:
                if _code(exc) not in MISSING_CODES | {"NoSuchBucket"}:
                    raise
            region = self.client.meta.region_name
            options = ({} if region == "us-east-1" else
                       {"CreateBucketConfiguration": {"LocationConstraint": region}})
            self.client.create_bucket(Bucket=self.bucket, **options)
            return True
        except (BotoCoreError, ClientError) as exc:
            raise self._failed("create bucket", self.bucket, exc) from exc

    def check(self) -> None:
        key = posixpath.join("healthcheck", secrets.token_hex(8))
        self.put(key, b"ok")
        if self.get(key) != b"ok":
            raise StorageUnavailable("get", key, "read back something else")
        self.delete(key)

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"object store {where}" + (f" at {self.endpoint}" if self.endpoint else "")


def _code(exc) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
