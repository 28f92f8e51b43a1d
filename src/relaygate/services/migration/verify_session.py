"""What every `migrate verify` probe shares: the admin-API session, the probe result, calls and checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from relaygate.core.errors import InvalidInput

PROBES = ("normal", "stream", "insufficient_balance", "rate_limit", "unavailable")


@dataclass
class Probe:
    outcome: str  # pass | fail | n/a
    status: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "status": self.status, "detail": self.detail[:300]}


@dataclass
class Session:
    http: aiohttp.ClientSession
    root: str
    admin: dict[str, str]
    suffix: str
    owners: dict[str, str] = field(default_factory=dict)  # role -> owner id
    keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (role, group) -> (id, secret)
    groups: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)

    async def api(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 204)) -> Any:
        async with self.http.request(method, self.root + path, json=body, headers=self.admin) as resp:
            data = await resp.read()
            if resp.status not in ok:
                raise InvalidInput(f"{method} {path} answered {resp.status}: {data[:300].decode(errors='replace')}",
                                   f"{method} {path} 返回 {resp.status}：{data[:300].decode(errors='replace')}")
            return orjson.loads(data) if data else None

    async def key(self, role: str, group: str) -> str:
        if (role, group) not in self.keys:
            view = await self.api("POST", "/api/keys", {"name": f"migration verification ({role})",
                                                        "owner": self.owners[role], "group": group,
                                                        "environment": "testing"})
            self.keys[(role, group)] = (view["id"], view["secret"])
        return self.keys[(role, group)][1]


async def call(s: Session, key: str, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
    headers = {"Authorization": f"Bearer {key}"}
    async with s.http.post(s.root + path, json=body, headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers.get("content-type", "")


def error_code(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", {}).get("code") or "")
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def expect(status: int, body: bytes, want_status: int, want_code: str, what: str) -> Probe:
    code = error_code(body)
    if status == want_status and (not want_code or code == want_code):
        return Probe("pass", status, f"{status} {code}".strip())
    return Probe("fail", status, f"expected {want_status} {want_code} for {what}, got {status} {code}: "
                                 f"{body[:200].decode(errors='replace')}")


def probe_request(model: str, tasks: list[str], stream: bool = False) -> tuple[str, dict[str, Any]]:
    if "embeddings" in tasks:
        return "/v1/embeddings", {"model": model, "input": "ping"}
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}
    if stream:
        body["stream"] = True
    return "/v1/chat/completions", body
