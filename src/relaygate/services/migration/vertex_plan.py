"""How a One API / New API Vertex AI channel becomes a channel of relaygate's ``vertex`` provider.

One API (type 42) keeps the service-account key in ``config.vertex_ai_adc`` with ``config.region`` and
``config.vertex_ai_project_id``; New API (type 41) keeps the key (a service-account JSON, a JSON list
of them, or an API key when ``settings.vertex_key_type`` is ``api_key``) in the key column and the
region in ``other`` (a region, or a JSON map with ``default`` and per-model regions). Both route
``gemini*`` models to Gemini's ``generateContent`` and Claude models to the Anthropic publisher's
``rawPredict``; relaygate's ``vertex`` provider does both (the model's name picks the publisher).
New API renamed Anthropic's dated Claude names to Vertex's (``claude-sonnet-4-20250514`` →
``claude-sonnet-4@20250514``; its table, ``NEWAPI_CLAUDE_NAMES``, is carried here); One API sent
names as stored (and used the Google publisher's path for Claude, which Vertex does not serve:
relaygate uses the Anthropic publisher's). Other models (Llama and other open models on Vertex's
OpenAI-compatible endpoint, Imagen) are left out of the channel, and the plan says so.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.vertex import DEFAULT_REGION, service_account
from relaygate.services.migration.parse import json_object, text
from relaygate.services.migration.records import Channel

# New API's relay/channel/vertex claudeModelMap: the name a caller asks for -> the name Vertex serves
NEWAPI_CLAUDE_NAMES = {
    "claude-3-sonnet-20240229": "claude-3-sonnet@20240229", "claude-3-opus-20240229": "claude-3-opus@20240229",
    "claude-3-haiku-20240307": "claude-3-haiku@20240307", "claude-3-5-sonnet-20240620": "claude-3-5-sonnet@20240620",
    "claude-3-5-sonnet-20241022": "claude-3-5-sonnet-v2@20241022",
    "claude-3-7-sonnet-20250219": "claude-3-7-sonnet@20250219", "claude-sonnet-4-20250514": "claude-sonnet-4@20250514",
    "claude-opus-4-20250514": "claude-opus-4@20250514", "claude-opus-4-1-20250805": "claude-opus-4-1@20250805",
    "claude-sonnet-4-5-20250929": "claude-sonnet-4-5@20250929",
    "claude-haiku-4-5-20251001": "claude-haiku-4-5@20251001",
    "claude-opus-4-5-20251101": "claude-opus-4-5@20251101",
}


def _api_key(kind: str, ch: Channel) -> bool:
    """Whether the channel's key is a Vertex API key (express mode) rather than a service-account key."""
    if kind == "newapi":
        settings, _ = json_object(ch.extra.get("settings"))
        if text(settings.get("vertex_key_type")) == "api_key":
            return True
    secret = ch.secrets[0] if ch.secrets else ""
    return bool(secret) and service_account(secret) is None and not secret.lstrip().startswith(("{", "["))


def serves(kind: str, ch: Channel, upstream: str) -> bool:
    """Whether relaygate's vertex provider can call ``upstream`` on this channel (Gemini; Claude with a
    service-account key: Vertex's API keys reach Google's models only)."""
    return upstream.startswith("gemini") or (upstream.startswith("claude") and not _api_key(kind, ch))


def _region(kind: str, ch: Channel, notes: list[str]) -> str:
    if kind == "oneapi":
        return text(ch.config.get("region")).strip() or DEFAULT_REGION
    raw = ch.other.strip()
    if raw.startswith("{"):
        regions, _ = json_object(raw)
        default = text(regions.get("default")).strip()
        others = {k: v for k, v in regions.items() if k != "default"}
        if others:
            notes.append("New API sent some models to other regions (" + ", ".join(f"{k}: {v}" for k, v in
                         others.items()) + "); relaygate's channel has one region: make one channel per region")
        return default or DEFAULT_REGION
    return raw or DEFAULT_REGION


def vertex_channel(kind: str, ch: Channel, base: str, models: dict[str, str]) -> tuple[
        str, dict[str, Any], list[str], list[str], dict[str, str]]:
    """(base URL, options, notes, reasons it cannot be enabled, the models it keeps)."""
    notes: list[str] = []
    reasons: list[str] = []
    settings, _ = json_object(ch.extra.get("settings")) if kind == "newapi" else ({}, None)
    secret = ch.secrets[0] if ch.secrets else ""
    key = service_account(secret) if secret else None
    api_key = _api_key(kind, ch)
    if api_key and text(settings.get("vertex_key_type")) != "api_key":
        notes.append("the key is not a service-account JSON: used as a Vertex API key (express mode)")
    region = _region(kind, ch, notes)
    project = text(ch.config.get("vertex_ai_project_id")).strip() if kind == "oneapi" else ""
    project = project or (text(key.get("project_id")).strip() if key else "")
    options: dict[str, Any] = {"region": region, "key_type": "api_key" if api_key else "service_account"}
    if not api_key:
        options["project"] = project or None
        if key is None:
            reasons.append("the Vertex key is not a service-account JSON key (private_key, client_email): "
                           "paste the key file's JSON as the channel's secret")
        elif not project:
            reasons.append("no Vertex project id (config.vertex_ai_project_id or the key's project_id): set "
                           "options.project")
        if secret.lstrip().startswith("["):
            try:
                count = len(orjson.loads(secret))
            except orjson.JSONDecodeError:
                count = 0
            if count > 1:
                notes.append(f"{count} service-account keys in New API's JSON list: relaygate uses the first")
    if not base:
        base = "https://aiplatform.googleapis.com" if region == "global" else \
            f"https://{region}-aiplatform.googleapis.com"
        notes.append(f"base URL empty in the source: {base} (the region's Vertex AI host)")
    base = base.rstrip("/").removesuffix("/v1")
    kept = {m: up for m, up in models.items() if serves(kind, ch, up)}
    if kind == "newapi":
        renamed = {m: NEWAPI_CLAUDE_NAMES[up] for m, up in kept.items() if up in NEWAPI_CLAUDE_NAMES}
        if renamed:
            kept.update(renamed)
            notes.append("Claude models under Vertex's names, as New API sent them: "
                         + ", ".join(f"{m} → {up}" for m, up in renamed.items()))
    claude = sorted(m for m, up in kept.items() if up.startswith("claude"))
    if claude:
        notes.append("Claude models go to Vertex's Anthropic publisher (rawPredict): " + ", ".join(claude))
    left = sorted(set(models) - set(kept))
    if left:
        why = ("Claude needs a service-account key (Vertex API keys reach Google's models only)"
               if api_key and any(models[m].startswith("claude") for m in left) else
               "relaygate's vertex provider serves Gemini and Claude models; Vertex's OpenAI-compatible endpoint "
               "for open models (Llama, *-maas) and Imagen are not carried")
        notes.append(f"left out of this channel: {', '.join(left)} ({why})")
    if not kept:
        reasons.append("serves no Gemini or Claude model: those are the models relaygate's vertex provider serves")
    return base, options, notes, reasons, kept
