"""New API's asynchronous tasks as plain records: the generic ``tasks`` table (video, Suno, …) and
``midjourneys``, with New API's own rules for "in flight", statuses, ids and who paid.

Facts from New API's source (``model/task.go``, ``model/midjourney.go``, ``service/task_polling.go``,
``service/task_billing.go``, ``controller/midjourney.go``):

- a task is in flight while its status is neither ``SUCCESS`` nor ``FAILURE`` and its progress is not
  ``100%`` (Midjourney: while its progress is not ``100%``); statuses are ``NOT_START``, ``SUBMITTED``,
  ``QUEUED``, ``IN_PROGRESS``, ``UNKNOWN`` (Midjourney also ``MODAL``), then ``SUCCESS`` or ``FAILURE``;
- ``quota`` was taken from the user's quota (and the token's remaining quota) at submit; a failure gives
  it back (log type 6, refund) unless ``private_data.billing_source`` is ``subscription`` (then the
  subscription is refunded); a success keeps it;
- ``tasks.task_id`` is the id the client holds (``task_…`` since 2026; older rows hold the upstream's id
  there), the upstream's id is ``private_data.upstream_task_id`` (else ``task_id``); Midjourney's client
  and upstream id are both ``mj_id``;
- a row without an upstream id is failed by New API itself, without a refund.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from relaygate.services.migration.parse import integer, json_object, text
from relaygate.services.migration.source import Source

RUNNING = ("IN_PROGRESS", "MODAL")
KLING_IMAGE_ACTIONS = ("generate", "firstTailGenerate", "referenceGenerate")
KLING_TYPE = "50"  # New API's channel type for Kling (the tasks.platform of its tasks)


@dataclass(slots=True)
class OldTask:
    table: str  # tasks | midjourneys
    row_id: int
    user_id: int
    client_id: str  # the id the client polls with
    upstream_id: str
    platform: str
    channel_id: int
    quota: int  # the pre-charge, in quota units
    action: str
    status: str
    progress: int
    model: str
    upstream_model: str
    submit_time: int  # unix seconds
    token_id: int
    funding: str  # wallet | subscription
    fail_reason: str
    result_url: str
    prompt: str

    @property
    def letter(self) -> str:
        return "t" if self.table == "tasks" else "m"

    @property
    def in_flight(self) -> bool:
        return self.status not in ("SUCCESS", "FAILURE") and self.progress < 100

    @property
    def outcome(self) -> str:
        """The relaygate state this row is in: queued, running, succeeded or failed."""
        if not self.in_flight:
            return "succeeded" if self.status == "SUCCESS" else "failed"
        return "running" if self.status in RUNNING else "queued"

    @property
    def surface(self) -> str:
        if self.table == "midjourneys":
            return "mj"
        return "kling" if self.platform == KLING_TYPE else "openai"

    @property
    def kind(self) -> str:
        if self.table == "midjourneys":
            return "image"
        return "music" if self.platform == "suno" or self.action in ("MUSIC", "LYRICS") else "video"

    @property
    def poll_action(self) -> str:
        """The action relaygate's task protocols poll with (Kling's path names image2video / text2video)."""
        if self.table == "midjourneys":
            return self.action
        return "image2video" if self.action in KLING_IMAGE_ACTIONS else "text2video"

    def label(self) -> str:
        return f"{self.table}#{self.row_id} {self.client_id or '(no id)'} ({self.model or self.platform}, " \
               f"users.id={self.user_id}, {self.status or 'no status'})"


def _progress(raw: Any) -> int:
    value = text(raw).strip().rstrip("%")
    try:
        return max(0, min(100, int(float(value))))
    except ValueError:
        return 0


def from_task(row: dict[str, Any]) -> OldTask:
    props, _ = json_object(row.get("properties"))
    private, _ = json_object(row.get("private_data"))
    found = private.get("billing_context")
    billing: dict[str, Any] = found if isinstance(found, dict) else {}
    client = text(row.get("task_id")).strip()
    status = text(row.get("status")).strip().upper()
    result = text(private.get("result_url")).strip() or (text(row.get("fail_reason")) if status == "SUCCESS" else "")
    return OldTask(
        "tasks", integer(row.get("id")), integer(row.get("user_id")), client,
        text(private.get("upstream_task_id")).strip() or client, text(row.get("platform")).strip(),
        integer(row.get("channel_id")), integer(row.get("quota")), text(row.get("action")).strip(), status,
        _progress(row.get("progress")),
        text(props.get("origin_model_name") or billing.get("origin_model_name") or props.get("upstream_model_name")),
        text(props.get("upstream_model_name")), integer(row.get("submit_time")),
        integer(private.get("token_id")),
        "subscription" if text(private.get("billing_source")) == "subscription" else "wallet",
        text(row.get("fail_reason")) if status != "SUCCESS" else "", result, text(props.get("input")))


def from_midjourney(row: dict[str, Any]) -> OldTask:
    mj_id = text(row.get("mj_id")).strip()
    action = text(row.get("action")).strip().upper()
    progress = _progress(row.get("progress"))
    status = text(row.get("status")).strip().upper()
    return OldTask(
        "midjourneys", integer(row.get("id")), integer(row.get("user_id")), mj_id, mj_id, "mj",
        integer(row.get("channel_id")), integer(row.get("quota")), action, status, progress,
        f"mj_{action.lower()}" if action else "midjourney", "", integer(row.get("submit_time")) // 1000
        if integer(row.get("submit_time")) > 10**11 else integer(row.get("submit_time")),
        integer(row.get("token_id")), "wallet", text(row.get("fail_reason")), text(row.get("image_url")),
        text(row.get("prompt")))


PARSE = {"tasks": from_task, "midjourneys": from_midjourney}


def in_flight_where(source: Source, table: str) -> ColumnElement[bool] | None:
    """New API's own query for unfinished rows (done in the database: the tables hold years of history)."""
    tbl = source.table(table)
    if tbl is None or "progress" not in tbl.c:
        return None
    progress = or_(tbl.c.progress.is_(None), tbl.c.progress != "100%")
    if table == "midjourneys" or "status" not in tbl.c:
        return progress
    return and_(tbl.c.status.notin_(["SUCCESS", "FAILURE"]), progress)


async def read_in_flight(source: Source, table: str, size: int) -> AsyncIterator[list[OldTask]]:
    where = in_flight_where(source, table)
    if where is None:
        return
    async for chunk in source.chunks(table, where, size=size):
        yield [PARSE[table](r) for r in chunk]


async def read_ids(source: Source, table: str, ids: list[int]) -> dict[int, OldTask]:
    """Rows by id, whatever their state (tasks taken over by an earlier import, to reconcile)."""
    tbl = source.table(table)
    if tbl is None or not ids:
        return {}
    found: dict[int, OldTask] = {}
    for i in range(0, len(ids), 500):
        async for chunk in source.chunks(table, tbl.c.id.in_(ids[i:i + 500])):
            for r in chunk:
                task = PARSE[table](r)
                found[task.row_id] = task
    return found
