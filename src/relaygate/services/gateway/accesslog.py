"""One access line per finished request, built from its usage record: ids, figures, never a secret or a prompt."""

from __future__ import annotations

import logging
from collections.abc import Callable
from operator import itemgetter

from relaygate.core.logs import ACCESS
from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.exchange import Exchange

log = logging.getLogger("relaygate.access")

# the usage-record fields support asks for first; the body (a prompt, when stored) is never among them
FIELDS = ("request_id", "status", "error_code", "key_id", "masked_key", "owner_id", "group_name", "environment",
          "client", "client_version", "entry_path", "requested_model", "upstream_model", "channel_id",
          "attempts", "stream", "prompt_tokens", "completion_tokens", "cached_tokens", "estimated",
          "latency_ms", "ttft_ms", "cost", "caller_ip", "route")
_PICK = itemgetter(*FIELDS)  # all of them in one C call (records written by the relay have every field)
_INFO = logging.INFO


class AccessLog:
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def __call__(self, ex: Exchange) -> None:
        if not log.isEnabledFor(_INFO):  # the line is built only when it will be written
            return
        rec = ex.rec
        try:
            fields = dict(zip(FIELDS, _PICK(rec), strict=True))
        except KeyError:  # a record built elsewhere (tests, tools) may lack some
            fields = {name: rec.get(name) for name in FIELDS}
        model = fields["requested_model"]
        if model.__class__ is str and len(model) > 128:
            fields["requested_model"] = model[:128]
        cid = rec.get("channel_id")
        if cid is not None:
            channel = self.snapshot().channels.get(cid)
            fields["channel"] = channel.name if channel is not None else None
        detail = rec.get("detail")
        if isinstance(detail, dict) and detail.get("attempts"):
            fields["failed_attempts"] = [a for a in detail["attempts"] if a.get("error")]
        writer = ACCESS.get("writer")
        if writer is not None:  # relaygate set up logging (serve): write the line directly
            writer.write(fields)
        else:
            log.info("access", extra={"fields": fields})

    @staticmethod
    def flush() -> None:
        writer = ACCESS.get("writer")
        if writer is not None:
            writer.flush()
