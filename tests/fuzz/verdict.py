"""Judging one answer of the server, and the tally of a fuzz run.

The rule (issue 14): no HTTP 5xx, no error with code `INTERNAL`, and every error
carries `extensions.code`; an answer that is not JSON, or none within the timeout,
fails too. Failures are kept deduplicated by where they happened, the class of
input, and what came back (with the cause the server logged under the request id),
each with its shortest example."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

TIMEOUT_S = 10.0
_LOGGED = re.compile(r"request_id=(\S+).*\[([^\]]+)\]\s*$")
_ANY_EXCEPTION = re.compile(r"\[(\w+ at [^\]]+)\]\s*$")


@dataclass(frozen=True)
class Finding:
    where: str  # Query.order(id), Mutation.createOrder(input.merchantId), ...
    input_class: str  # nul, lone surrogate, global id: huge number, schemathesis, ...
    outcome: str  # HTTP 500 [cause], INTERNAL [cause], error without a code, ...


@dataclass
class Tally:
    name: str
    tried: int = 0
    http_5xx: int = 0
    internal: int = 0
    uncoded: int = 0
    other: int = 0  # not JSON, no answer in time
    findings: dict[Finding, str] = field(default_factory=dict)  # -> shortest example
    roles: dict[Finding, set[str]] = field(default_factory=dict)  # who saw it

    @property
    def failed(self) -> int:
        return self.http_5xx + self.internal + self.uncoded + self.other

    def counts(self) -> str:
        return (
            f"{self.name}: {self.tried} requests tried, {self.http_5xx} HTTP 5xx, "
            f"{self.internal} INTERNAL, {self.uncoded} errors without a code, "
            f"{self.other} other failures (not JSON / no answer)"
        )

    def report(self) -> str:
        lines = [self.counts()]
        for f in sorted(self.findings, key=lambda f: (f.where, f.input_class, f.outcome)):
            sample, roles = self.findings[f], ", ".join(sorted(self.roles[f]))
            lines.append(f"  - {f.where} | {f.input_class} | {f.outcome} | as {roles} | {sample}")
        return "\n".join(lines)

    def _keep(self, finding: Finding, sample: str, role: str) -> None:
        self.roles.setdefault(finding, set()).add(role)
        kept = self.findings.get(finding)
        if kept is None or len(sample) < len(kept):
            self.findings[finding] = sample


class Judge:
    """Sends requests to the server one at a time and judges each answer."""

    def __init__(self, base_url: str, log_path: Path, tally: Tally) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=TIMEOUT_S)
        self.log_path = log_path
        self.tally = tally
        self._seq = 0

    def close(self) -> None:
        self.client.close()

    def post(
        self,
        body: str,
        headers: dict[str, str],
        *,
        role: str,
        where: str,
        input_class: str,
        sample: str,
    ) -> httpx.Response | None:
        """POST one GraphQL request body (JSON text as given, so a lone surrogate goes as
        its `\\ud800` escape), judge the answer and return it (None: no answer)."""
        self._seq += 1
        rid = f"fuzz-{self._seq}"
        log_mark = self._log_size()
        self.tally.tried += 1
        try:
            resp = self.client.post(
                "/graphql",
                content=body.encode(),
                headers={**headers, "content-type": "application/json", "x-request-id": rid},
            )
        except httpx.TimeoutException:
            self.tally.other += 1
            self.tally._keep(
                Finding(where, input_class, f"no answer in {TIMEOUT_S:g} s"), sample, role
            )
            return None
        for outcome, counter in self._failures(resp, log_mark):
            setattr(self.tally, counter, getattr(self.tally, counter) + 1)
            self.tally._keep(Finding(where, input_class, outcome), sample, role)
        return resp

    def _failures(self, resp: httpx.Response, log_mark: int) -> list[tuple[str, str]]:
        if resp.status_code >= 500:
            return [(f"HTTP {resp.status_code}{self._cause_since(log_mark)}", "http_5xx")]
        try:
            payload: Any = resp.json()
        except ValueError:
            return [(f"HTTP {resp.status_code}, not JSON: {resp.text[:60]!r}", "other")]
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if not isinstance(payload, dict) or (
            resp.status_code != 200 and not isinstance(errors, list)
        ):
            return [(f"HTTP {resp.status_code}, JSON without errors: {resp.text[:60]!r}", "other")]
        failures = []
        for err in errors or []:
            extensions = err.get("extensions") if isinstance(err, dict) else None
            code = extensions.get("code") if isinstance(extensions, dict) else None
            if code == "INTERNAL":
                cause = self._cause_of(str(extensions.get("requestId", "")), log_mark)
                failures.append((f"INTERNAL [{cause}]", "internal"))
            elif not code:
                message = str(err.get("message", err))[:80] if isinstance(err, dict) else err
                failures.append((f"error without a code: {message}", "uncoded"))
        # one request counts once per kind, however many fields failed in it
        return list(dict.fromkeys(failures))

    def _log_size(self) -> int:
        return self.log_path.stat().st_size

    def _read_log_from(self, offset: int) -> list[str]:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace").splitlines()

    def _cause_of(self, rid: str, offset: int) -> str:
        # logged before the answer was sent
        for line in self._read_log_from(offset):
            m = _LOGGED.search(line)
            if m and m.group(1) == rid:
                return m.group(2)
        return "cause not logged"

    def _cause_since(self, offset: int) -> str:
        # Starlette logs an unhandled exception after it has sent the 500.
        for _ in range(10):
            for line in self._read_log_from(offset):
                m = _ANY_EXCEPTION.search(line)
                if m:
                    return f" [{m.group(1)}]"
            time.sleep(0.02)
        return ""


# Every tally of this run, for the terminal summary (tests/fuzz/conftest.py).
TALLIES: list[Tally] = []
