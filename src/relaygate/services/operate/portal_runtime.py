"""What the portal keeps for a process's life: e-mail (and its outbox task), low-balance notices (and
their task), OpenID Connect, accounts, self-service keys and the abuse limits. ``Gateway.start`` builds it
and starts its two supervised tasks; the portal pages and the key holders' API use it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.settings import Settings
from relaygate.core.tasks import Supervisor
from relaygate.services.operate.abuse import AbuseGuard
from relaygate.services.operate.balance_notices import BalanceNotices
from relaygate.services.operate.mail import Mailer
from relaygate.services.operate.oidc import Oidc
from relaygate.services.operate.portal_accounts import PortalAccounts
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.services.operate.self_keys import SelfKeys
from relaygate.store.counters import CounterStore


@dataclass
class PortalRuntime:
    mailer: Mailer
    notices: BalanceNotices
    oidc: Oidc
    accounts: PortalAccounts
    users: PortalUsers
    self_keys: SelfKeys
    abuse: AbuseGuard

    @classmethod
    def build(cls, settings: Settings, engine: AsyncEngine, counters: CounterStore,
              session: Callable[[], aiohttp.ClientSession | None]) -> PortalRuntime:
        mailer = Mailer(settings)
        return cls(mailer, BalanceNotices(engine, settings, mailer), Oidc(settings, session),
                   PortalAccounts(engine, settings, mailer), PortalUsers(engine), SelfKeys(engine, settings.currency),
                   AbuseGuard(counters))

    def start(self, supervisor: Supervisor) -> None:
        supervisor.start("portal-mail", self.mailer.run)
        supervisor.start("balance-notices", self.notices.run)

    async def stop(self) -> None:
        await self.mailer.drain()
        await self.notices.close()
