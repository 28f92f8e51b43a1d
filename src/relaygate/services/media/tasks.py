"""Asynchronous tasks (videos; Midjourney's images): the room the web layer and the gateway call.

A task is submitted with a hold (``task_submit.py``), read, listed, downloaded and cancelled by its
owner (``task_reads.py``), polled in the background and resumed after a restart (``task_poll.py``),
ended once with its money (``task_end.py``) and reported to its callback URL (``task_delivery.py``);
``task_links.py`` shows it with links through the gateway and ``task_channel.py`` finds the channel
it runs on.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.providers.media import TaskProtocol
from relaygate.services.gateway.exchange import Inbound, Outcome
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.relay import Relay
from relaygate.services.media.legacy import OldSide
from relaygate.services.media.money import MediaMoney
from relaygate.services.media.prices import MediaPrices
from relaygate.services.media.ssrf import UrlGuard
from relaygate.services.media.task_channel import TaskChannels
from relaygate.services.media.task_delivery import CallbackDelivery
from relaygate.services.media.task_end import TaskEnd
from relaygate.services.media.task_links import TaskLinks
from relaygate.services.media.task_poll import TaskPoller
from relaygate.services.media.task_reads import TaskReads
from relaygate.services.media.task_submit import TaskSubmit, VideoRequest


class VideoTasks:
    def __init__(self, settings: Settings, engine: AsyncEngine, relay: Relay, gate: Gate | None, money: MediaMoney,
                 prices: MediaPrices, protocols: dict[str, TaskProtocol], guard: UrlGuard,
                 callback_secret: bytes, old: OldSide | None = None) -> None:
        self.links = TaskLinks(settings, callback_secret)
        self.channels = TaskChannels(relay, protocols)
        self.ending = TaskEnd(settings, engine, money)
        self.submitter = TaskSubmit(settings, engine, relay, gate, money, prices, protocols, guard, self.links)
        self.reads = TaskReads(engine, relay, self.links, self.channels, self.ending, old)
        self.delivery = CallbackDelivery(settings, engine, relay, guard, self.links, callback_secret)
        self.poller = TaskPoller(settings, engine, relay, money, self.channels, self.ending, self.delivery)

    async def submit(self, inbound: Inbound, req: VideoRequest) -> Outcome:
        return await self.submitter.submit(inbound, req)

    async def get(self, inbound: Inbound, task_id: str) -> Outcome:
        return await self.reads.get(inbound, task_id)

    async def list(self, inbound: Inbound, limit: int, after: str | None) -> Outcome:
        return await self.reads.list(inbound, limit, after)

    async def mj_list(self, inbound: Inbound, ids: Sequence[str]) -> Outcome:
        return await self.reads.mj_list(inbound, ids)

    async def content(self, inbound: Inbound, task_id: str) -> Outcome:
        return await self.reads.content(inbound, task_id)

    async def signed_content(self, inbound: Inbound, task_id: str, exp: str, sig: str) -> Outcome:
        return await self.reads.signed_content(inbound, task_id, exp, sig)

    async def cancel(self, inbound: Inbound, task_id: str) -> Outcome:
        return await self.reads.cancel(inbound, task_id)

    async def resume(self) -> int:
        """After a restart, before serving: take the holds of tasks still in flight again."""
        return await self.poller.resume()

    async def run(self) -> None:
        """The supervised background loop (``media-tasks``)."""
        await self.poller.run()
