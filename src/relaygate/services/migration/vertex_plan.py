"""How a One API / New API Vertex AI channel becomes a channel of relaygate's ``vertex`` provider.

One API (type 42) keeps the service-account key in ``config.vertex_ai_adc`` with ``config.region`` and
``config.vertex_ai_project_id``; New API (type 41) keeps the key (a service-account JSON, a JSON list
of them, or an API key when ``settings.vertex_key_type`` is ``api_key``) in the key column and the
region in ``other`` (a region, or a JSON map with ``default`` and per-model regions). Both route
``gemini*`` models to Gemini's ``generateContent`` and other models to the Claude publisher, which
relaygate's provider does not serve: those are left out of the channel, and the plan says so.
"""

from __future__ import annotations

from typing import Any

import orjson

from relaygate.providers.vertex import DEFAULT_REGION, service_account
from relaygate.services.migration.parse import json_object, text
from relaygate.services.migration.records import Channel


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
    api_key = kind == "newapi" and text(settings.get("vertex_key_type")) == "api_key"
    if not api_key and key is None and secret and not secret.lstrip().startswith(("{", "[")):
        api_key = True
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
    kept = {m: up for m, up in models.items() if up.startswith("gemini")}
    left = sorted(set(models) - set(kept))
    if left:
        notes.append("not served by relaygate's vertex provider (the source sent them to Vertex's Claude / other "
                     "publishers): " + ", ".join(left) + "; left out of this channel")
    if not kept:
        reasons.append("serves no Gemini model: relaygate's vertex provider serves Gemini models only")
    return base, options, notes, reasons, kept
