"""Bootstrap: the one place that builds everything a process needs and hands it down explicitly."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.core.tasks import Supervisor
from relaygate.fakeupstream import FakeUpstream
from relaygate.providers import load_media, load_providers
from relaygate.providers.base import Provider
from relaygate.services.gateway.accesslog import AccessLog
from relaygate.services.gateway.alerts import Alerts
from relaygate.services.gateway.balances import BalanceSync
from relaygate.services.gateway.billing import Billing
from relaygate.services.gateway.gate import Gate
from relaygate.services.gateway.health import HealthBoard
from relaygate.services.gateway.metrics import Meter
from relaygate.services.gateway.prober import Prober
from relaygate.services.gateway.recovery import Recovery
from relaygate.services.gateway.relay import Relay
from relaygate.services.gateway.state import GatewayState
from relaygate.services.gateway.usage import UsageWriter
from relaygate.services.media.service import Media
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.alerts import AlertsAdmin
from relaygate.services.operate.balances import LedgerAdmin
from relaygate.services.operate.portal_runtime import PortalRuntime
from relaygate.services.operate.pricing import PricingAdmin
from relaygate.services.operate.rollups import Rollups
from relaygate.services.operate.routing import RoutingAdmin
from relaygate.services.operate.setup import FirstRun, first_run
from relaygate.services.operate.usage import UsageQuery
from relaygate.services.rollout.service import Rollout
from relaygate.store.counters import CounterStore
from relaygate.store.counters_memory import MemoryCounters
from relaygate.store.db import make_engine, upgrade
from relaygate.store.secret_rows import prepare_secrets
from relaygate.store.spool import Spool

log = logging.getLogger("relaygate")


def tune_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often.

    Per request the gateway allocates many short-lived objects; with the default thresholds the
    cyclic collector ran often enough to cost a quarter of the throughput and most of the p99 tail
    (bench/ab.sh). Reference counting still frees almost everything at once; cycles wait longer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def make_counters(settings: Settings) -> CounterStore:
    """Redis when REDIS_URL is set (several workers or machines share it), else this process's memory."""
    if settings.redis_url:
        from relaygate.store.counters_redis import RedisCounters

        return RedisCounters(settings.redis_url)
    return MemoryCounters()


@dataclass
class Gateway:
    """Everything one process serves with; built by ``start`` and torn down by ``stop``."""

    settings: Settings
    engine: AsyncEngine
    providers: dict[str, Provider]
    health: HealthBoard
    state: GatewayState
    usage: UsageWriter
    accounts: AccountsAdmin
    routing: RoutingAdmin
    usage_query: UsageQuery
    counters: CounterStore
    billing: Billing | None
    balance_sync: BalanceSync
    ledger: LedgerAdmin
    pricing: PricingAdmin
    alerts: Alerts
    alerts_admin: AlertsAdmin
    supervisor: Supervisor = field(default_factory=Supervisor)
    session: aiohttp.ClientSession | None = None
    relay: Relay | None = None
    rollout: Rollout | None = None
    media: Media | None = None
    demo: FakeUpstream | None = None
    first_run: FirstRun | None = None
    admin_hashes: set[str] = field(default_factory=set)
    meter: Meter | None = None
    tracing: Any = None  # services.gateway.tracing.Tracing when OTEL_EXPORTER_OTLP_ENDPOINT is set
    spool: Spool | None = None
    recovery: Recovery | None = None
    portal: PortalRuntime | None = None  # the key holders' portal: e-mail, notices, single sign-on

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine | None = None) -> Gateway:
        engine = engine or make_engine(settings.database_url)
        providers = load_providers()
        health = HealthBoard(settings.failure_threshold, settings.cooldown_seconds,
                             settings.cooldown_max_seconds, settings.recovery_probe_seconds)
        state = GatewayState(engine, health, settings.config_poll_seconds)
        counters = make_counters(settings)
        billing = Billing(settings) if settings.billing else None
        instance = secrets.token_hex(6)  # this process: names its spool and its hold rows
        if billing is not None:
            billing.instance = instance
        spool = Spool(settings.data_path / "spool", instance, sync_seconds=settings.usage_spool_sync_seconds) \
            if settings.usage_spool else None
        usage = UsageWriter(engine, flush_seconds=settings.usage_flush_seconds,
                            batch_size=settings.usage_batch_size, buffer_limit=settings.usage_buffer_limit,
                            spill_path=settings.data_path / "usage-spill.jsonl",
                            ledger_source=billing.take_entries if billing else None, spool=spool)
        gateway = cls(settings, engine, providers, health, state, usage, AccountsAdmin(engine),
                      RoutingAdmin(engine, sorted(providers)), UsageQuery(engine), counters, billing,
                      BalanceSync(engine, counters, settings.config_poll_seconds),
                      LedgerAdmin(engine, settings.currency), PricingAdmin(engine, settings.currency),
                      Alerts(engine, counters, settings.currency, settings.alert_webhook_url),
                      AlertsAdmin(engine, settings.currency))
        if settings.metrics:
            gateway.meter = Meter(lambda: state.snapshot, settings.currency)
        health.namer = gateway.channel_name
        gateway.spool = spool
        return gateway

    def channel_name(self, channel_id: int) -> str:
        channel = self.state.snapshot.channels.get(channel_id)
        return f"'{channel.name}' (id {channel_id})" if channel is not None else f"id {channel_id}"

    def observe(self, relay: Relay) -> None:
        """Hang metrics, the access log (and traces, when configured) on the relay's finish."""
        if self.meter is not None:
            relay.meter = self.meter
            relay.observers.append(self.meter.observe)
        if self.settings.access_log:
            relay.observers.append(AccessLog(lambda: self.state.snapshot))
        if self.settings.otel_endpoint:
            from relaygate.services.gateway.tracing import Tracing

            self.tracing = Tracing(self.settings.otel_endpoint, self.settings.otel_service_name,
                                   lambda: self.state.snapshot)
            relay.observers.append(self.tracing)
            relay.traced = True

    async def start(self) -> None:
        s = self.settings
        if s.auto_migrate:
            await upgrade(self.engine)
        # before any channel row
        await prepare_secrets(self.engine, s.secrets_key, s.secrets_key_file, str(s.data_path))
        self.first_run = await first_run(self.engine, s, sorted(self.providers))
        if s.demo_upstream:
            await self._start_demo()
        await self.state.reload()
        if self.spool is not None:
            # before the balances load: what a killed process journalled is in the ledger first
            self.spool.open()
            self.recovery = Recovery(self.engine, self.spool, heartbeat_seconds=s.instance_heartbeat_seconds,
                                     stale_seconds=s.instance_stale_seconds,
                                     counters=self.counters if s.redis_url else None)
            await self.recovery.start()
        if self.billing is not None:
            await self.balance_sync.load(self.state.snapshot)
        await self.alerts.reload()
        self.admin_hashes = await self.accounts.admin_token_hashes()
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300,
                                         enable_cleanup_closed=True, family=socket.AF_UNSPEC)
        # identity bytes: answers are relayed as read and their usage read on the way (aiohttp would ask
        # for gzip, which upstreams behind a CDN honour, and nothing here decompresses)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                             headers={"Accept-Encoding": "identity"},
                                             skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar())
        self.rollout = rollout = Rollout(self.engine, s)  # decides which keys still go to the old entry
        await rollout.routing.reload()
        gate = Gate(self.counters, self.billing, limits=s.limits) if self.billing or s.limits else None
        self.relay = Relay(s, self.state, self.providers, self.session, self.health, self.usage,
                           alerts=self.alerts, gate=gate, legacy=rollout.routing)
        sync_media, task_protocols = load_media()
        self.media = media = Media.build(s, self.engine, self.relay, gate, self.counters, self.billing, sync_media,
                                         task_protocols)
        await media.prices.load(self.engine)
        await media.tasks.resume()  # holds of tasks in flight, taken again before serving
        self.observe(self.relay)
        prober = Prober(self.state, self.health, self.providers, self.session, self.engine,
                        s.probe_interval_seconds)
        if s.gc_tuning:
            tune_gc()
        self.state.listeners.append(self._after_reload)
        self.supervisor.start("config-sync", self.state.run)
        self.supervisor.start("usage-writer", self.usage.run)
        self.supervisor.start("channel-health", prober.run)
        self.supervisor.start("media-tasks", media.tasks.run)
        if self.spool is not None and self.recovery is not None:
            self.supervisor.start("spool-sync", self.spool.run_sync)
            self.supervisor.start("recovery", self.recovery.run)
        self.supervisor.start("rollout-guard", lambda: rollout.guard.run(lambda: self.session))
        self.supervisor.start("usage-rollups", Rollups(self.engine, s.rollup_seconds).run)  # console charts
        self.portal = PortalRuntime.build(s, self.engine, self.counters, lambda: self.session)
        self.portal.start(self.supervisor)  # portal e-mail outbox, key holders' low-balance notices
        if self.billing is not None:
            self.supervisor.start("balance-sync", lambda: self.balance_sync.run(lambda: self.state.snapshot))
            self.supervisor.start("expired-holds", self._expire_holds)
            self.supervisor.start("alerts", lambda: self.alerts.run(lambda: self.session))

    async def _expire_holds(self) -> None:
        """Holds left by a crashed worker (Redis) or a lost request are released after their TTL."""
        while True:
            await asyncio.sleep(60)
            await self.counters.release_expired_holds()

    async def _after_reload(self) -> None:
        self.admin_hashes = await self.accounts.admin_token_hashes()
        if self.media is not None:
            await self.media.prices.load(self.engine)
        await self.alerts.reload()

    async def _start_demo(self) -> None:
        self.demo = FakeUpstream()
        try:
            await self.demo.start("127.0.0.1", self.settings.demo_port)
        except OSError as exc:  # another worker (or a previous run) already serves it
            log.info("demo upstream not started here (%s); using the one on port %d", exc.strerror,
                     self.settings.demo_port)
            self.demo = None

    async def stop(self) -> None:
        """Graceful stop: end background loops, write every buffered usage record, close pools."""
        await self.supervisor.stop(drains=[self.usage.drain, lambda: self.alerts.deliver(self.session)])
        if self.portal is not None:
            await self.portal.stop()
        if self.recovery is not None:
            try:
                await self.recovery.stop()
            except Exception as exc:  # the database may be gone; the heartbeat then just ages out
                log.warning("could not remove this process's heartbeat: %s", type(exc).__name__)
        await self.counters.close()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.shutdown)
        AccessLog.flush()
        if self.session is not None:
            await self.session.close()
        if self.demo is not None:
            await self.demo.stop()
        await self.engine.dispose()
