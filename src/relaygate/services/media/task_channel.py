"""The channel a task runs on: found again for each poll, download and cancel of the task."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from relaygate.core.domain import ChannelRecord
from relaygate.core.errors import GatewayError
from relaygate.providers.media import TaskProtocol
from relaygate.services.gateway.relay import Relay

log = logging.getLogger("relaygate.media")


class TaskChannels:
    def __init__(self, relay: Relay, protocols: dict[str, TaskProtocol]) -> None:
        self.relay = relay
        self.protocols = protocols

    def of(self, row: Any) -> tuple[ChannelRecord, str, TaskProtocol]:
        """The task's channel, the secret it was submitted with and its protocol; 'upstream_error' if gone."""
        channel = self.relay.state.snapshot.channels.get(row.channel_id)
        proto = self.protocols.get(row.protocol)
        if channel is None or proto is None or not channel.secrets:
            raise GatewayError("upstream_error", model=row.model, attempts=0,
                               detail="the channel that runs this task was removed")
        index = int((row.params or {}).get("secret_index") or 0)
        return channel, channel.secrets[index % len(channel.secrets)], proto

    async def cancel(self, row: Any) -> None:
        """Ask the upstream to cancel (or delete) the task; a failure is logged, never raised."""
        try:
            channel, secret, proto = self.of(row)
            req = proto.cancel(channel, secret, row.upstream_task_id or "")
            if req is not None:
                resp = await self.relay.session.request(req.method, req.url, headers=req.headers,
                                                        timeout=aiohttp.ClientTimeout(total=15))
                resp.release()
        except (aiohttp.ClientError, TimeoutError, GatewayError) as exc:
            log.info("task %s: upstream cancel not confirmed (%s)", row.id, type(exc).__name__)
