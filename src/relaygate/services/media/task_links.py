"""How a task is shown to its caller: the surface's view of it, with links through the gateway.

Callers only ever see relaygate's addresses: the download URL ``/v1/videos/{id}/content`` and, for
Midjourney clients that show ``imageUrl`` as it is, a short-lived link signed for the task that needs
no key (``/mj/image/{id}?exp=…&sig=…``).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from relaygate.core.clock import now_ms
from relaygate.core.settings import Settings
from relaygate.services.gateway.exchange import Inbound
from relaygate.services.media import views


class TaskLinks:
    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret

    def base_url(self, inbound: Inbound | None) -> str:
        base = self.settings.public_base_url.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        host = inbound.host if inbound is not None else ""
        return base or f"http://{host or f'{self.settings.host}:{self.settings.port}'}"

    def render(self, row: Any, inbound: Inbound) -> dict[str, Any]:
        """The task as the route the caller used shows it (OpenAI's Video object, Kling's or Midjourney's task)."""
        content = f"{self.base_url(inbound)}/v1/videos/{row.id}/content"
        if row.surface == "kling" and inbound.path.startswith("/kling/"):
            return views.kling_task(row, content)
        if row.surface == "mj" and "/mj/" in inbound.path:
            return views.mj_task(row, self.signed_url(inbound, row))
        return views.openai_video(row)

    def signed_url(self, inbound: Inbound | None, row: Any) -> str:
        """A short-lived link to the result that needs no key (Midjourney clients show ``imageUrl`` as it is):
        signed with the server's secret for this task until its result expires, so only its owner has it."""
        exp = int(row.result_expires_at or now_ms() + self.settings.media_result_ttl_seconds * 1000) // 1000
        return f"{self.base_url(inbound)}/mj/image/{row.id}?exp={exp}&sig={self.sign(row.id, exp)}"

    def sign(self, task_id: str, exp: int) -> str:
        return hmac.new(self.secret, f"result:{task_id}:{exp}".encode(), hashlib.sha256).hexdigest()[:40]
