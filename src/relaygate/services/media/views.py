"""A task as each surface shows it: OpenAI's Video object, or Kling's task answer (New API's Kling routes).

Callers only ever see relaygate's task id and relaygate's download URL; the upstream's task id,
result URL and channel stay in the task record for operators.
"""

from __future__ import annotations

from typing import Any

OPENAI_STATUS = {"queued": "queued", "running": "in_progress", "succeeded": "completed", "failed": "failed",
                 "cancelled": "failed", "expired": "failed"}
MJ_STATUS = {"queued": "SUBMITTED", "running": "IN_PROGRESS", "succeeded": "SUCCESS", "failed": "FAILURE",
             "cancelled": "FAILURE", "expired": "FAILURE"}
KLING_STATUS = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed",
                "cancelled": "failed", "expired": "failed"}


def _sec(ms: int | None) -> int | None:
    return None if ms is None else ms // 1000


def openai_video(row: Any) -> dict[str, Any]:
    params = row.params or {}
    error = None
    if row.state in ("failed", "cancelled", "expired"):
        code = row.error_code or ("task_" + row.state if row.state != "failed" else "upstream_failed")
        error = {"code": code, "message": row.error_message or f"The task {row.state}."}
    seconds = (row.units or {}).get("count") if row.state == "succeeded" else params.get("seconds")
    return {
        "id": row.id, "object": "video", "model": row.model, "status": OPENAI_STATUS[row.state],
        "progress": 100 if row.state == "succeeded" else int(row.progress or 0),
        "created_at": _sec(row.created_at), "completed_at": _sec(row.finished_at),
        "expires_at": _sec(row.result_expires_at), "seconds": str(seconds or ""),
        "size": params.get("size") or "", "error": error, "remixed_from_video_id": None,
        "prompt": row.prompt_summary,
    }


def kling_task(row: Any, content_url: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "task_id": row.id, "task_status": KLING_STATUS[row.state],
        "task_status_msg": row.error_message or "", "created_at": row.created_at, "updated_at": row.updated_at,
    }
    if row.state == "succeeded":
        units = row.units or {}
        duration = units.get("count") or (row.params or {}).get("seconds") or ""
        data["task_result"] = {"videos": [{"id": row.id, "url": content_url, "duration": str(duration)}]}
    return {"code": 0, "message": "SUCCEED", "request_id": row.request_id, "data": data}


def mj_task(row: Any, content_url: str) -> dict[str, Any]:
    """midjourney-proxy's task as New API's /mj/task/{id}/fetch answered it; the image through the gateway."""
    done = row.state == "succeeded"
    details = (row.result or {}).get("details") or {} if done else {}
    return {"id": row.source_id or row.id, "action": (row.params or {}).get("mj_action") or "IMAGINE",
            "prompt": details.get("prompt") or row.prompt_summary or "", "promptEn": "",
            "description": "", "state": "", "submitTime": row.created_at, "startTime": row.created_at,
            "finishTime": row.finished_at or 0, "imageUrl": content_url if done else "",
            "status": MJ_STATUS[row.state], "progress": f"{100 if done else int(row.progress or 0)}%",
            "failReason": (row.error_message or "") if row.state in ("failed", "cancelled", "expired") else "",
            "buttons": details.get("buttons") or [], "properties": {}}
