"""Documents sent by their sha256 (the APQ protocol) and the allow-list mode in which
only the first-party clients' registered documents run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from app.api import persisted

QUERY = "{ __typename }"
SHA = hashlib.sha256(QUERY.encode()).hexdigest()


def pq(sha: str = SHA) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha}}


async def by_post(client, body, headers=None):
    return await client.post("/graphql", json=body, headers=headers or {})


async def by_get(client, body, headers=None):
    params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in body.items()}
    return await client.get("/graphql", params=params, headers=headers or {})


def code_of(res) -> str | None:
    errors = res.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


@pytest.mark.parametrize("send", [by_post, by_get])
async def test_apq_round_trip(client, send):
    # the hash alone: not known yet
    miss = await send(client, {"extensions": pq()})
    assert (miss.status_code, code_of(miss)) == (200, "PERSISTED_QUERY_NOT_FOUND")
    # the hash with its document: run and kept
    full = await send(client, {"query": QUERY, "extensions": pq()})
    assert full.json() == {"data": {"__typename": "Query"}}
    # the hash alone now runs the document
    hit = await send(client, {"extensions": pq()})
    assert hit.json() == {"data": {"__typename": "Query"}}


async def test_not_found_is_a_400_request_error_under_graphql_response_json(client):
    res = await by_post(
        client, {"extensions": pq()}, {"accept": "application/graphql-response+json"}
    )
    assert res.status_code == 400
    assert res.headers["content-type"] == "application/graphql-response+json"
    assert code_of(res) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("send", [by_post, by_get])
async def test_a_document_that_is_not_its_hash_is_refused_and_not_kept(client, send):
    res = await send(client, {"query": "{ me { id } }", "extensions": pq()})
    assert code_of(res) == "PERSISTED_QUERY_HASH_MISMATCH"
    assert code_of(await send(client, {"extensions": pq()})) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize("send", [by_post, by_get])
async def test_a_document_that_does_not_validate_is_not_kept(client, send):
    bad = "{ noSuchField }"
    sha = hashlib.sha256(bad.encode()).hexdigest()
    res = await send(client, {"query": bad, "extensions": pq(sha)})
    assert code_of(res) == "GRAPHQL_VALIDATION_FAILED"
    assert code_of(await send(client, {"extensions": pq(sha)})) == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": SHA}},
        {"persistedQuery": {"version": 1, "sha256Hash": "abc"}},
        {"persistedQuery": {"version": 1}},
        {"persistedQuery": "x"},
    ],
)
async def test_a_malformed_persisted_query_is_refused(client, extensions):
    res = await by_post(client, {"extensions": extensions})
    assert code_of(res) == "PERSISTED_QUERY_INVALID"


@pytest.fixture
def allow_list(settings, monkeypatch):
    monkeypatch.setattr(settings, "trusted_documents_only", True)
    return settings


@pytest.mark.parametrize("send", [by_post, by_get])
async def test_allow_list_runs_registered_documents_only(client, allow_list, send):
    # a document sent in full, with or without its hash, is refused
    assert code_of(await send(client, {"query": QUERY})) == "TRUSTED_DOCUMENT_REQUIRED"
    res = await send(client, {"query": QUERY, "extensions": pq()})
    assert code_of(res) == "TRUSTED_DOCUMENT_REQUIRED"
    assert code_of(await send(client, {"extensions": pq()})) == "PERSISTED_QUERY_NOT_FOUND"
    # once the first-party clients registered it, its hash runs it
    await persisted.register([QUERY], allow_list)
    hit = await send(client, {"extensions": pq()})
    assert hit.json() == {"data": {"__typename": "Query"}}
    full = await send(client, {"query": QUERY, "extensions": pq()})
    assert full.json() == {"data": {"__typename": "Query"}}


async def test_a_document_a_client_sent_is_not_trusted(client, settings, monkeypatch):
    # kept by APQ while the allow-list was off ...
    await by_post(client, {"query": QUERY, "extensions": pq()})
    monkeypatch.setattr(settings, "trusted_documents_only", True)
    # ... does not run once it is on
    assert code_of(await by_post(client, {"extensions": pq()})) == "PERSISTED_QUERY_NOT_FOUND"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "register-documents", *args],
        env={**os.environ, "APP_ENV": "test"},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.redis  # (the command runs in its own process: the same Redis server)
async def test_cli_registers_a_directory_and_a_manifest(client, allow_list, tmp_path):
    docs = tmp_path / "docs"
    (docs / "orders").mkdir(parents=True)
    (docs / "typename.graphql").write_text(QUERY)
    other = "query Me { me { id } }\n"
    (docs / "orders" / "me.graphql").write_text(other)
    (docs / "notes.txt").write_text("{ not a document }")
    run = _cli(str(docs))
    assert run.returncode == 0, run.stderr
    assert sorted(run.stdout.split()) == sorted([SHA, persisted.digest(other)])
    assert (await by_post(client, {"extensions": pq()})).json() == {"data": {"__typename": "Query"}}
    # a manifest (hash -> document), each hash checked
    third = "query T { __typename }"
    manifest = tmp_path / "persisted-documents.json"
    manifest.write_text(json.dumps({persisted.digest(third): third}))
    assert _cli(str(manifest)).returncode == 0
    res = await by_post(client, {"extensions": pq(persisted.digest(third))})
    assert res.json() == {"data": {"__typename": "Query"}}
    manifest.write_text(json.dumps({"0" * 64: "{ me { id } }"}))
    refused = _cli(str(manifest))
    assert refused.returncode == 2
    assert "is not the sha256 of its document" in refused.stderr
