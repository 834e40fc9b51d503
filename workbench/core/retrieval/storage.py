"""An index on object storage: `retrieval.uri: s3://bucket/prefix`, so a team shares one index.

Details: docs/NOTES.md, section core/retrieval/storage.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from workbench.core.errors import WorkbenchError
from workbench.core.retrieval.index import IndexUnavailable, _short  # index.py imports this module lazily

SCHEMES = ("s3",)
LEASE = "ingest.lock"
STAGED_META = "reindex.json"
LEASE_S = 120.0  # a lease not renewed for this long belongs to a killed ingest
LEASE_RENEW_S = 20.0
LEASE_SETTLE_S = 0.3
_URI = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<bucket>[^/]*)(?:/(?P<prefix>.*))?$")


def uri_problem(uri: str | None) -> str | None:
    """Why `retrieval.uri` is not a usable index location, or None (None/"" = the local folder)."""
    if not uri:
        return None
    m = _URI.match(uri.strip())
    if not m:
        return f"retrieval.uri must look like s3://bucket/prefix, got {uri!r}"
    if m["scheme"] not in SCHEMES:
        return f"retrieval.uri: {m['scheme']}:// is not supported (only s3://bucket/prefix; leave it unset for the local folder)"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", m["bucket"] or ""):
        return f"retrieval.uri: {m['bucket']!r} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"
    return None


def is_remote(where: Any) -> bool:
    return isinstance(where, ObjectStore) or (isinstance(where, str) and "://" in where)


class RemoteDir(str):
    """An index location shown and joined like a folder: `idx.dir / "meta.json"` gives
    "s3://bucket/prefix/meta.json" for messages, as the local Path does."""

    def __truediv__(self, name: str) -> RemoteDir:
        return RemoteDir(f"{self.rstrip('/')}/{name}")


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class ObjectStore:
    """One index prefix on an S3-compatible store, configured from the environment."""

    def __init__(self, uri: str) -> None:
        problem = uri_problem(uri)
        if problem:
            raise WorkbenchError(problem, field="retrieval.uri")
        m = _URI.match(uri.strip())
        assert m is not None
        self.bucket = m["bucket"]
        self.prefix = (m["prefix"] or "").strip("/")
        self.uri = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.endpoint = _env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
        self.region = _env("AWS_REGION", "AWS_DEFAULT_REGION") or ("us-east-1" if self.endpoint else None)
        self._key = _env("AWS_ACCESS_KEY_ID")
        self._secret = _env("AWS_SECRET_ACCESS_KEY")
        self._token = _env("AWS_SESSION_TOKEN")
        allow = (_env("AWS_ALLOW_HTTP") or "").lower() in ("1", "true", "yes")
        self.allow_http = allow or bool(self.endpoint and self.endpoint.startswith("http://"))

    def __str__(self) -> str:
        return self.uri

    @property
    def dir(self) -> RemoteDir:
        return RemoteDir(self.uri)

    def where(self) -> str:
        """The store as a user configured it, for messages: endpoint or AWS, never a key."""
        return f"{self.uri} at {self.endpoint}" if self.endpoint else self.uri

    # --- the two clients ---------------------------------------------------------------------

    def storage_options(self) -> dict[str, str]:
        """LanceDB's `storage_options` (object_store's AmazonS3ConfigKey / ClientConfigKey names)."""
        opts = {"connect_timeout": "5s", "timeout": "60s"}
        for key, value in (
            ("aws_endpoint", self.endpoint),
            ("aws_region", self.region),
            ("aws_access_key_id", self._key),
            ("aws_secret_access_key", self._secret),
            ("aws_session_token", self._token),
        ):
            if value:
                opts[key] = value
        if self.allow_http:
            opts["allow_http"] = "true"
        return opts

    def connect(self) -> Any:
        from workbench.core.retrieval.index import lancedb_module

        return lancedb_module().connect(self.uri, storage_options=self.storage_options())

    def _fs(self) -> Any:
        key = (self.endpoint, self.region, self._key, self._secret, self._token, self.allow_http)
        fs = _FILESYSTEMS.get(key)
        if fs is None:
            from pyarrow import fs as pafs

            kw: dict[str, Any] = {
                "connect_timeout": 5,
                "request_timeout": 60,
                "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=3),
            }
            if self.endpoint:
                kw["endpoint_override"] = self.endpoint
                kw["scheme"] = "http" if self.endpoint.startswith("http://") else "https"
            if self.region:
                kw["region"] = self.region
            if self._key and self._secret:
                kw.update(access_key=self._key, secret_key=self._secret)
                if self._token:
                    kw["session_token"] = self._token
            fs = _FILESYSTEMS[key] = pafs.S3FileSystem(**kw)
        return fs

    def _path(self, name: str) -> str:
        return "/".join(p for p in (self.bucket, self.prefix, name) if p)

    # --- small objects -------------------------------------------------------------------------

    def read_text(self, name: str, doing: str) -> str | None:
        """The object's text, None when it does not exist (the bucket existing: else an error)."""
        fs = self._fs()
        try:
            with fs.open_input_stream(self._path(name)) as fh:
                return str(fh.read().decode("utf-8"))
        except FileNotFoundError:
            pass
        except Exception as exc:  # pyarrow raises OSError with the AWS error in its text
            raise self.problem(exc, doing) from None
        self.check_bucket(doing)
        return None

    def write_text(self, name: str, text: str, doing: str) -> None:
        """One PUT: a reader sees the previous object or this one, never a part."""
        try:
            with self._fs().open_output_stream(self._path(name), metadata={"Content-Type": "application/json"}) as fh:
                fh.write(text.encode("utf-8"))
        except Exception as exc:
            raise self.problem(exc, doing) from None

    def delete(self, name: str) -> None:
        try:
            self._fs().delete_file(self._path(name))
        except FileNotFoundError:
            pass
        except Exception as exc:
            raise self.problem(exc, "deleting " + name) from None

    def check_bucket(self, doing: str) -> None:
        from pyarrow import fs as pafs

        try:
            info = self._fs().get_file_info(self.bucket)
        except Exception as exc:
            raise self.problem(exc, doing) from None
        if info.type == pafs.FileType.NotFound:
            raise _no_bucket(self, doing)

    # --- errors --------------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        for secret in (self._key, self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text

    def problem(self, exc: BaseException, doing: str) -> StoreUnavailable:
        return remote_problem(exc, self, doing) or StoreUnavailable(
            f"the object store failed ({doing}: {self.redact(_first_line(exc))}) for {self.where()}",
            path=self.uri,
        )


_FILESYSTEMS: dict[tuple[str | bool | None, ...], Any] = {}


class StoreUnavailable(IndexUnavailable):
    """The object store cannot be used: unreachable, credentials refused, no such bucket.
    Not IndexDamaged: rebuilding would fail the same way, and the index is as it was."""


_DENIED = (
    "invalidaccesskeyid",
    "signaturedoesnotmatch",
    "access_denied",
    "accessdenied",
    "status: 403",
    "forbidden",
    "expiredtoken",
    "invalidtoken",
    "invalidclienttokenid",
    "missing_authentication_token",
    "no credentials",
    "credential",
)
_UNREACHABLE = (
    "network_connection",
    "could not connect",
    "connection refused",
    "tcp connect error",
    "dns error",
    "failed to lookup address",
    "timed out",
    "timeout",
    "error sending request",
    "connect error",
    "couldn't resolve host",
    "kind: connect",
)
_NO_BUCKET = ("nosuchbucket", "bucket does not exist", "the specified bucket does not exist")


def remote_problem(exc: BaseException, store: ObjectStore, doing: str) -> StoreUnavailable | None:
    """What an object-store failure means to a user (from LanceDB's or pyarrow's error text),
    or None when it is none of: access refused, store unreachable, bucket missing."""
    text = str(exc).lower()
    if any(k in text for k in _NO_BUCKET):
        return _no_bucket(store, doing)
    if any(k in text for k in _DENIED):
        return StoreUnavailable(
            f"the object store refused access to {store.where()} ({doing}: {_reason(text)}): check "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_SESSION_TOKEN, AWS_PROFILE) and that "
            "they may read and write this bucket; the index was not changed",
            path=store.uri,
        )
    if any(k in text for k in _UNREACHABLE):
        return StoreUnavailable(
            f"cannot reach the object store for {store.where()} ({doing}: {_reason(text)}): check "
            "AWS_ENDPOINT_URL and the network; the index was not changed",
            path=store.uri,
        )
    return None


def _no_bucket(store: ObjectStore, doing: str) -> StoreUnavailable:
    return StoreUnavailable(
        f"the bucket {store.bucket!r} does not exist on {store.endpoint or 'AWS S3'} "
        f"(retrieval.uri {store.uri}; {doing}): create it, or fix retrieval.uri / AWS_ENDPOINT_URL",
        path=store.uri,
    )


def _reason(text: str) -> str:
    for code, said in (
        ("invalidaccesskeyid", "unknown access key"),
        ("signaturedoesnotmatch", "wrong secret key"),
        ("expiredtoken", "expired session token"),
        ("access_denied", "access denied"),
        ("accessdenied", "access denied"),
        ("status: 403", "access denied"),
        ("forbidden", "access denied"),
        ("connection refused", "connection refused"),
        ("could not connect", "connection refused"),
        ("tcp connect error", "connection refused"),
        ("dns error", "host not found"),
        ("failed to lookup address", "host not found"),
        ("couldn't resolve host", "host not found"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
    ):
        if code in text:
            return said
    return "no credentials" if "credential" in text else "request failed"


def _first_line(exc: BaseException) -> str:
    return _short(exc)


class Lease:
    """The ingest lock on an object store: an object naming its holder, renewed in the
    background while the ingest runs, deleted at the end; stale after LEASE_S."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()

    def holder(self) -> dict[str, Any] | None:
        """The live lease's record ({host, pid, since, beat, token}), None when free or stale."""
        text = self.store.read_text(LEASE, "reading the ingest lock")
        if not text:
            return None
        try:
            rec = json.loads(text)
            fresh = time.time() - float(rec.get("beat", 0)) < LEASE_S
        except (ValueError, TypeError, AttributeError):
            return None
        return rec if fresh else None

    def _refuse(self, other: dict[str, Any]) -> WorkbenchError:
        return WorkbenchError(
            f"another `workbench ingest` is writing this index ({self.store.uri}, from "
            f"{other.get('host')} pid {other.get('pid')}); wait for it to finish (a killed "
            f"one's lock expires {int(LEASE_S)} s after its last renewal)"
        )

    def _write(self, since: float) -> None:
        rec = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": since,
            "beat": time.time(),
            "token": self.token,
        }
        self.store.write_text(LEASE, json.dumps(rec), "writing the ingest lock")

    @contextmanager
    def held(self) -> Iterator[None]:
        other = self.holder()
        if other is not None:
            raise self._refuse(other)
        since = time.time()
        self._write(since)
        # two ingests that both found it free: the later PUT wins, and the earlier one sees
        # that here (S3 reads are strongly consistent); only overlapping this pause both go on
        time.sleep(LEASE_SETTLE_S)
        other = self.holder()
        if other is not None and other.get("token") != self.token:
            raise self._refuse(other)
        renew = threading.Thread(target=self._renew, args=(since,), daemon=True, name="ingest-lease")
        renew.start()
        try:
            yield
        finally:
            self._stop.set()
            renew.join(timeout=5)
            try:
                text = self.store.read_text(LEASE, "releasing the ingest lock")
                if text and json.loads(text).get("token") == self.token:
                    self.store.delete(LEASE)
            except (WorkbenchError, ValueError):
                pass  # it expires by itself

    def _renew(self, since: float) -> None:
        while not self._stop.wait(LEASE_RENEW_S):
            try:
                self._write(since)
            except WorkbenchError:
                pass  # a blip: the next renewal tries again, and LEASE_S allows several
