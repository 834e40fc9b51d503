"""An index on object storage (`retrieval.uri: s3://bucket/prefix`) against a real S3 server.

The server is moto's (PyPI `moto[server]`, a test dependency) in server mode on loopback, with
authentication on: an IAM user's key is the only one that works, so wrong credentials are
refused as a real S3 would refuse them. The workbench talks to it over HTTP exactly as to AWS
(LanceDB's object store and pyarrow's S3 client); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from fixtures_retrieval import write_corpus, write_grounded_project

from workbench.cli import main

BUCKET = "team-index"


class S3:
    def __init__(self, endpoint: str, key: str, secret: str, client) -> None:
        self.endpoint, self.key, self.secret, self.client = endpoint, key, secret, client

    def env(self, **over: str) -> dict[str, str]:
        base = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        return {**base, **over}

    def objects(self, prefix: str) -> dict[str, str]:
        """{key: ETag} of every object under the prefix (what "untouched" compares)."""
        out: dict[str, str] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
            out.update({o["Key"]: o["ETag"] for o in page.get("Contents", [])})
        return out

    def text(self, key: str) -> str:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


@pytest.fixture(scope="module")
def s3():
    """moto's S3 on a free loopback port, one bucket, and an IAM user whose key may use it.
    Authentication is switched on after the setup calls (moto's INITIAL_NO_AUTH_ACTION_COUNT)."""
    import logging

    import boto3
    from moto import settings as moto_settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    setup = dict(
        endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
    )
    iam = boto3.client("iam", **setup)
    user = f"workbench-{uuid.uuid4().hex[:8]}"  # moto's accounts are per process, not per server
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    bucket_owner = boto3.client("s3", **setup)
    if BUCKET not in [b["Name"] for b in bucket_owner.list_buckets()["Buckets"]]:
        bucket_owner.create_bucket(Bucket=BUCKET)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    previous = moto_settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    try:
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], client)
    finally:
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = previous
        server.stop()


@pytest.fixture
def s3_env(s3, monkeypatch):
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    return s3


def _project(tmp_path: Path, prefix: str) -> Path:
    root = write_grounded_project(tmp_path / "proj")
    yaml = root / "workbench.yaml"
    yaml.write_text(yaml.read_text().replace("retrieval:\n", f"retrieval:\n  uri: s3://{BUCKET}/{prefix}\n"))
    return root


def _out(capsys) -> tuple[str, str]:
    got = capsys.readouterr()
    return " ".join(got.out.split()), " ".join(got.err.split())


def test_ingest_to_s3_then_search_and_incremental_reingest(tmp_path, s3_env, embedder, capsys):
    root = _project(tmp_path, "shared")
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    out, _ = _out(capsys)
    assert "Ingested: 5 added, 0 updated, 0 removed, 0 unchanged" in out and "Index: 5 documents" in out
    keys = s3_env.objects("shared")
    assert "shared/meta.json" in keys and any(k.startswith("shared/chunks.lance/") for k in keys)
    assert not (root / ".workbench" / "index").exists()  # nothing of the index on this disk
    meta = s3_env.text("shared/meta.json")
    assert json.loads(meta)["state"] == "ready"
    assert s3_env.secret not in meta and s3_env.key not in meta  # credentials are never stored

    # unchanged files cost nothing: no embedding, no table write
    version = json.loads(meta)["table_version"]
    assert main([*p, "ingest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nothing_changed"] and report["unchanged"] == 5 and report["chunks_embedded"] == 0
    assert report["index_version"] == version

    # one changed file: only its chunks are embedded again
    (root / "docs" / "dogs.md").write_text("# Dogs\n\nDogs herd sheep on hill farms.\n", encoding="utf-8")
    assert main([*p, "ingest", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["updated"] == ["dogs.md"] and report["added"] == [] and report["unchanged"] == 4
    assert 0 < report["chunks_embedded"] <= 2

    assert main([*p, "retrieve", "which animal herds sheep", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["path"] == "dogs.md"
    assert main([*p, "retrieval", "status"]) == 0
    out, _ = _out(capsys)
    assert "5 documents" in out and "state ready" in out
    main([*p, "doctor"])
    out, _ = _out(capsys)
    assert "s3://team-index/shared: 5 documents" in out

    from workbench.core.evals.runner import index_build
    from workbench.core.project import Project

    project = Project.open(root)
    assert index_build(project) == json.loads(s3_env.text("shared/meta.json"))["build_id"]
    project.close()


def test_search_from_another_process_while_ingesting(tmp_path, s3, s3_env, embedder, capsys):
    """A second machine's view: while one process ingests into the shared index, this one
    searches it (the last committed version) and is told an ingest is running."""
    from workbench.core.project import Project
    from workbench.core.retrieval.service import incomplete_note, retrieve

    root = _project(tmp_path, "busy")
    assert main(["--project", str(root), "ingest"]) == 0
    capsys.readouterr()
    write_corpus(
        root / "docs" / "more",
        {f"note{i}.md": f"# Note {i}\n\nParrot fact number {i}: parrots mimic {i} sounds.\n" for i in range(40)},
    )
    env = {**os.environ, **s3.env()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "--project", str(root), "ingest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        project = Project.open(root)
        deadline = time.monotonic() + 120
        note = None
        while time.monotonic() < deadline and proc.poll() is None:
            note = incomplete_note(project)
            if note:
                break
            time.sleep(0.2)
        assert note and "an ingest is running" in note and note.startswith("index incomplete: 5/45 files")
        result, _ = retrieve(project, project.config.retrieval, "how long do cats sleep", record=False)
        assert proc.poll() is None, "the ingest ended before the search: nothing was concurrent"
        assert result.hits and result.hits[0].path == "cats.md"
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "40 added" in " ".join(out.split())
    assert incomplete_note(project) is None
    result, _ = retrieve(project, project.config.retrieval, "how many sounds do parrots mimic", record=False)
    assert result.hits[0].path.startswith("more/note")
    project.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wrong_credentials_or_unreachable_store_exit_2_and_leave_the_index(
    tmp_path, s3, s3_env, embedder, capsys, monkeypatch
):
    root = _project(tmp_path, "guarded")
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    capsys.readouterr()
    before = s3.objects("guarded")
    (root / "docs" / "cats.md").write_text("# Cats\n\nCats changed.\n", encoding="utf-8")

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    assert main([*p, "ingest"]) == 2
    _, err = _out(capsys)
    assert "refused access to s3://team-index/guarded" in err and "access denied" in err
    assert "AWS_SECRET_ACCESS_KEY" in err and "not-the-secret" not in err
    assert main([*p, "retrieve", "cats"]) == 2
    assert "refused access" in _out(capsys)[1]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOBODY0000000000")
    assert main([*p, "ingest"]) == 2
    _, err = _out(capsys)
    assert "refused access" in err and "AKIANOBODY0000000000" not in err

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    t0 = time.monotonic()
    assert main([*p, "ingest"]) == 2
    _, err = _out(capsys)
    assert "cannot reach the object store for s3://team-index/guarded" in err and "AWS_ENDPOINT_URL" in err
    assert time.monotonic() - t0 < 60

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    assert s3.objects("guarded") == before  # untouched: same objects, same contents
    assert main([*p, "retrieve", "how long do cats sleep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"


def test_missing_bucket_is_said_and_nothing_is_created(tmp_path, s3, s3_env, embedder, capsys):
    root = _project(tmp_path, "x")
    yaml = root / "workbench.yaml"
    yaml.write_text(yaml.read_text().replace(f"s3://{BUCKET}/x", "s3://no-such-bucket/x"))
    assert main(["--project", str(root), "ingest"]) == 2
    _, err = _out(capsys)
    assert "the bucket 'no-such-bucket' does not exist" in err
    assert "no-such-bucket" not in [b["Name"] for b in s3.client.list_buckets()["Buckets"]]


def test_reindex_on_s3_switches_tables_by_rewriting_meta(tmp_path, s3, s3_env, embedder, capsys):
    """No rename on S3: --reindex builds a new table and meta.json is switched to it in one PUT;
    the replaced table stays for searches in flight and the next ingest drops it."""
    root = _project(tmp_path, "re")
    p = ["--project", str(root)]
    assert main([*p, "ingest"]) == 0
    first = json.loads(s3.text("re/meta.json"))
    assert main([*p, "ingest", "--reindex"]) == 0
    second = json.loads(s3.text("re/meta.json"))
    assert second["table"] != first["table"] and second["build_id"] != first["build_id"]
    tables = {k.split("/")[1] for k in s3.objects("re") if k.endswith(".manifest")}
    assert tables == {first["table"] + ".lance", second["table"] + ".lance"}
    assert "re/reindex.json" not in s3.objects("re")
    capsys.readouterr()
    assert main([*p, "retrieve", "how long do cats sleep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["path"] == "cats.md"
    assert main([*p, "ingest"]) == 0
    assert {k.split("/")[1] for k in s3.objects("re") if k.endswith(".manifest")} == {second["table"] + ".lance"}


def test_a_second_ingest_is_refused_while_the_lease_is_live(tmp_path, s3, s3_env, embedder, capsys):
    root = _project(tmp_path, "leased")
    lease = {"host": "build-box", "pid": 4242, "since": time.time(), "beat": time.time(), "token": "x"}
    s3.client.put_object(Bucket=BUCKET, Key="leased/ingest.lock", Body=json.dumps(lease).encode())
    assert main(["--project", str(root), "ingest"]) == 2
    _, err = _out(capsys)
    assert "another `workbench ingest` is writing this index" in err and "build-box pid 4242" in err
    lease["beat"] = time.time() - 600  # a killed ingest's lease: taken over
    s3.client.put_object(Bucket=BUCKET, Key="leased/ingest.lock", Body=json.dumps(lease).encode())
    assert main(["--project", str(root), "ingest"]) == 0
    assert "leased/ingest.lock" not in s3.objects("leased")  # released at the end


@pytest.mark.parametrize(
    "uri, said",
    [
        ("gs://bucket/x", "gs:// is not supported"),
        ("s3://Bad_Bucket/x", "is not an S3 bucket name"),
        ("team-index/x", "must look like s3://bucket/prefix"),
    ],
)
def test_a_bad_uri_is_a_located_config_error(tmp_path, capsys, uri, said):
    root = write_grounded_project(tmp_path / "proj")
    yaml = root / "workbench.yaml"
    yaml.write_text(yaml.read_text().replace("retrieval:\n", f"retrieval:\n  uri: {uri}\n"))
    line = yaml.read_text().splitlines().index(f"  uri: {uri}") + 1
    assert main(["--project", str(root), "retrieval", "status"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"workbench.yaml:{line}:" in err and said in err


def test_uri_is_not_part_of_a_variant(tmp_path):
    from workbench.core.retrieval.settings import RetrievalSettings

    assert RetrievalSettings(uri="s3://a-bucket/x").to_dict() == RetrievalSettings().to_dict()


def test_a_cancelled_or_killed_reindex_leaves_the_serving_index(tmp_path, s3, s3_env, embedder):
    import threading

    from workbench.core.retrieval.index import Index
    from workbench.core.retrieval.ingest import ingest
    from workbench.core.retrieval.settings import RetrievalSettings

    docs = write_corpus(tmp_path / "docs")
    uri = f"s3://{BUCKET}/cancel"
    settings = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, uri=uri)
    ingest([docs], tmp_path / "data", settings, embedder=embedder)
    serving = s3.text("cancel/meta.json")
    from workbench.core.evals.promote import corpus_documents

    found = corpus_documents(tmp_path, tmp_path / "data", settings)  # what promote checks labels with
    assert "the index: 5 documents" in found.where and found.chunks("cats.md")

    def tables() -> set[str]:
        return {k.split("/")[1] for k in s3.objects("cancel") if k.endswith(".manifest")}

    stop = threading.Event()
    stop.set()
    report = ingest([docs], tmp_path / "data", settings, embedder=embedder, reindex=True, cancel=stop)
    assert report.cancelled and report.docs_total == 5
    assert s3.text("cancel/meta.json") == serving and tables() == {"chunks.lance"}
    assert "cancel/reindex.json" not in s3.objects("cancel")

    # a --reindex killed part-way leaves its table and reindex.json; the next ingest drops both
    staged = Index.create(uri, {**json.loads(serving), "state": "ingesting"}, staged=True)
    staged._db.create_table(staged.table_name, data=Index.open(uri).table.to_arrow())
    assert "cancel/reindex.json" in s3.objects("cancel") and len(tables()) == 2
    assert ingest([docs], tmp_path / "data", settings, embedder=embedder).docs_total == 5
    assert "cancel/reindex.json" not in s3.objects("cancel") and tables() == {"chunks.lance"}
    assert not (tmp_path / "data").exists()


def test_of_two_ingests_that_found_the_lock_free_the_later_write_wins(
    tmp_path, s3, s3_env, embedder, capsys, monkeypatch
):
    """Another machine writes its lease during this ingest's settle pause: this one backs off."""
    import types

    from workbench.core.retrieval import storage

    root = _project(tmp_path, "race")
    rival = {"host": "other-box", "pid": 7, "since": time.time(), "beat": time.time(), "token": "rival"}

    def pause(seconds: float) -> None:
        s3.client.put_object(Bucket=BUCKET, Key="race/ingest.lock", Body=json.dumps(rival).encode())

    monkeypatch.setattr(storage, "time", types.SimpleNamespace(time=time.time, sleep=pause))
    assert main(["--project", str(root), "ingest"]) == 2
    assert "other-box pid 7" in _out(capsys)[1]
    assert json.loads(s3.text("race/ingest.lock"))["token"] == "rival"  # not deleted by the loser
    assert "race/meta.json" not in s3.objects("race")


def test_retrieval_tune_builds_its_trial_indexes_locally_not_in_the_shared_one(tmp_path, s3, s3_env, embedder, capsys):
    from fixtures_retrieval import EVALSET

    root = _project(tmp_path, "tuned")
    (root / "evals").mkdir()
    (root / "evals" / "tiny.yaml").write_text(EVALSET, encoding="utf-8")
    assert main(["--project", str(root), "ingest"]) == 0
    capsys.readouterr()
    before = s3.objects("tuned")
    assert main(["--project", str(root), "retrieval", "tune", "tiny", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["rows"]) > 20
    assert s3.objects("tuned") == before


def test_unindexed_relevant_labels_are_checked_against_the_s3_index(tmp_path, s3, s3_env, embedder):
    from types import SimpleNamespace

    from workbench.core.evals.promote import unindexed_labels
    from workbench.core.retrieval.ingest import ingest
    from workbench.core.retrieval.settings import RetrievalSettings

    settings = RetrievalSettings(chunk_tokens=60, overlap_tokens=10, uri=f"s3://{BUCKET}/labels")
    ingest([write_corpus(tmp_path / "docs")], tmp_path / "data", settings, embedder=embedder)
    cases = [SimpleNamespace(relevant=["cats.md", "docs/cats.md"])]
    assert unindexed_labels(cases, settings.uri) == ["docs/cats.md"]
