"""The receiver helpers docs/partners.md shows, in Python and in Node, taken from the
docs' text: they accept a genuine delivery signed by the platform (EdDSA and RS256,
against the key set the app publishes) and refuse a changed body, a changed id, a
signature of a key not published, and a stale timestamp."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from typing import Any

import pytest

from app.domain import webhook_keys
from app.services.webhooks import headers_for
from tests.webhook_receiver import docs_block, docs_verifier

pytestmark = [pytest.mark.postgres]

REFUSALS = {
    "changed body": "InvalidSignatureError",
    "unpublished key": "InvalidSignatureError",
    "stale": "ValueError",
    "another id": "ValueError",
    "payload attached": "DecodeError",
}
NODE_RUNNER = """
const input = JSON.parse(require("node:fs").readFileSync(0, "utf8"));
const results = input.cases.map((c) => {
  try {
    const event = verifyWebhook(c.headers, Buffer.from(c.body, "base64"), input.jwks);
    return "ok:" + event.id;
  } catch (e) {
    return "refused:" + e.message;
  }
});
process.stdout.write(JSON.stringify(results));
"""


@pytest.fixture(autouse=True)
def _fresh_keys():
    webhook_keys.forget_cached_key()
    yield
    webhook_keys.forget_cached_key()


async def _cases(client) -> tuple[dict[str, Any], list[tuple[str, dict[str, str], bytes]]]:
    """(the published key set, [(what it is, headers, body)]): genuine ones first."""
    wid = "3b0f5f55-6a52-4d1e-9a7c-0d6f1e2f3a4b"
    body = json.dumps({"id": wid, "type": "order.paid", "data": {"amountFen": 100}}).encode()
    key = await webhook_keys.signing_key()
    genuine = headers_for(body, wid, key)  # type: ignore[arg-type]
    rsa = await webhook_keys.rotate("RS256")
    webhook_keys.forget_cached_key()
    rsa_key = await webhook_keys.signing_key()
    assert rsa_key.kid == rsa.kid
    genuine_rsa = headers_for(body, wid, rsa_key)  # type: ignore[arg-type]
    # a key of the same kind and kid that the platform never published
    stranger = webhook_keys.SigningKey(key.kid, key.alg, webhook_keys._generate(key.alg)[0])
    forged = headers_for(body, wid, stranger)  # type: ignore[arg-type]
    stale_ts = int(time.time()) - 3600
    stale = {
        **genuine,
        "webhook-timestamp": str(stale_ts),
        "webhook-signature": webhook_keys.sign(body, key, wid, stale_ts),
    }
    other_id = {**genuine, "webhook-id": "00000000-0000-4000-8000-000000000000"}
    changed = body.replace(b'"amountFen": 100', b'"amountFen": 900')
    attached = {
        **genuine,
        "webhook-signature": genuine["webhook-signature"].replace(
            "..", "." + base64.urlsafe_b64encode(body).decode().rstrip("=") + "."
        ),
    }
    jwks = (await client.get("/.well-known/jwks.json")).json()
    return jwks, [
        ("genuine EdDSA", genuine, body),
        ("genuine RS256", genuine_rsa, body),
        ("changed body", genuine, changed),
        ("unpublished key", forged, body),
        ("stale", stale, body),
        ("another id", other_id, body),
        ("payload attached", attached, body),
    ]


async def test_the_python_helper_accepts_genuine_and_refuses_the_rest(client):
    verify = docs_verifier()
    jwks, cases = await _cases(client)
    for what, headers, body in cases:
        if what.startswith("genuine"):
            assert verify(headers, body, jwks)["type"] == "order.paid", what
        else:
            with pytest.raises(Exception) as refused:  # noqa: B017 - any refusal
                verify(headers, body, jwks)
            assert type(refused.value).__name__ == REFUSALS[what], (what, refused.value)


async def test_the_node_helper_accepts_genuine_and_refuses_the_rest(client, tmp_path):
    node = shutil.which("node")
    assert node, "node is needed (CI installs it)"
    script = tmp_path / "verify.js"
    script.write_text(docs_block("js", "function verifyWebhook") + NODE_RUNNER)
    jwks, cases = await _cases(client)
    payload = {
        "jwks": jwks,
        "cases": [{"headers": h, "body": base64.b64encode(b).decode()} for _, h, b in cases],
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(script),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(json.dumps(payload).encode())
    assert proc.returncode == 0, err.decode()
    results = json.loads(out)
    assert dict(zip([c[0] for c in cases], results, strict=True)) == {
        "genuine EdDSA": "ok:3b0f5f55-6a52-4d1e-9a7c-0d6f1e2f3a4b",
        "genuine RS256": "ok:3b0f5f55-6a52-4d1e-9a7c-0d6f1e2f3a4b",
        "changed body": "refused:bad signature",
        "unpublished key": "refused:bad signature",
        "stale": "refused:stale delivery",
        "another id": "refused:Webhook-Id is not the signed one",
        "payload attached": "refused:expected a detached payload",
    }
