"""Schemathesis over the admin API's whole OpenAPI document, against the real server on a socket:
bounded examples per operation (valid and invalid input), zero server errors, every status declared."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.core.failures import FailureGroup

from tests.harness import Running

EXAMPLES = 4  # per operation and per mode: bounded, the whole document runs in seconds on a quiet machine
SAFE_URL = "http://127.0.0.1:9/v1"  # any URL the fuzzer writes points at a closed local port


def _local_urls(value: Any) -> Any:
    """Keep every generated URL on 127.0.0.1: nothing the gateway stores may send traffic elsewhere."""
    if isinstance(value, dict):
        return {k: SAFE_URL if "url" in k.lower() and isinstance(v, str) else _local_urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_local_urls(v) for v in value]
    return value


class Fuzz:
    def __init__(self, root: str, token: str) -> None:
        import requests

        self.root = root
        self.session = requests.Session()
        self.auth = {"Authorization": f"Bearer {token}"}
        self.problems: list[str] = []
        self.calls = 0
        self.no_negative: list[str] = []

    def operation(self, operation: Any, mode: GenerationMode) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(mode))
        def probe(case: Any) -> None:
            if isinstance(case.body, dict | list):
                case.body = _local_urls(case.body)
            response = case.call(base_url=self.root, session=self.session, headers=self.auth, timeout=20)
            self.calls += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
            except FailureGroup as exc:
                self.problems.append(f"{operation.label} [{mode.value}] {response.status_code}: "
                                     f"{exc.exceptions[0].title} {response.text[:200]}")

        try:
            probe()
        except Unsatisfiable:  # an operation whose every parameter is free text has no invalid form to send
            if mode is not GenerationMode.NEGATIVE:
                raise
            self.no_negative.append(operation.label)


def fuzz(root: str, doc: dict[str, Any], token: str) -> list[str]:
    schema = schemathesis.openapi.from_dict(doc)
    run = Fuzz(root, token)
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run.operation(operation, mode)
    assert run.calls > 2 * len(operations), "the fuzzer made too few calls to mean anything"
    assert len(run.no_negative) < len(operations) // 4, run.no_negative
    return run.problems


async def test_the_whole_admin_api_never_answers_5xx(gw: Running) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.root + "/api/openapi.json") as resp:
            doc = await resp.json()
    assert len(doc["paths"]) > 40
    problems = await asyncio.to_thread(fuzz, gw.root, doc, gw.admin_token)
    assert problems == [], "\n".join(problems[:20])
