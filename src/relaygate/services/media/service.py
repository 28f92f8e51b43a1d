"""The media room as the gateway builds it: synchronous calls, video tasks, the price list, the old entry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.providers.media import SyncMedia, TaskProtocol
from relaygate.services.gateway.billing import Billing
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.relay import Relay
from relaygate.services.media.callbacks import load_secret
from relaygate.services.media.legacy import OldSide
from relaygate.services.media.money import MediaMoney
from relaygate.services.media.prices import MediaPrices
from relaygate.services.media.ssrf import UrlGuard
from relaygate.services.media.sync import MediaCalls
from relaygate.services.media.tasks import VideoTasks
from relaygate.store.counters import CounterStore


@dataclass
class Media:
    prices: MediaPrices
    calls: MediaCalls
    tasks: VideoTasks
    old: OldSide  # during a rollout: what goes to the old entry

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine, relay: Relay, gate: Gate | None, store: CounterStore,
              billing: Billing | None, sync: dict[str, SyncMedia], tasks: dict[str, TaskProtocol]) -> Media:
        prices = MediaPrices()
        money = MediaMoney(store, billing)
        guard = UrlGuard(settings.media_allow_hosts)
        secret = load_secret(settings.media_callback_secret, settings.data_path)
        old = OldSide(engine, relay)
        return cls(prices, MediaCalls(settings, relay, gate, money, prices, sync),
                   VideoTasks(settings, engine, relay, gate, money, prices, tasks, guard, secret, old), old)
