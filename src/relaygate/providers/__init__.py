"""Upstream protocols, one module each, registered by name; vendors are data rows in vendors.py."""

from __future__ import annotations

import importlib

from relaygate.providers.base import Provider
from relaygate.providers.media import SyncMedia, TaskProtocol

# protocol name -> module defining PROVIDER. Adding a protocol is one new file and one row here.
_MODULES = {
    "openai": "relaygate.providers.openai_compat",
    "azure": "relaygate.providers.azure",
    "anthropic": "relaygate.providers.anthropic",
    "gemini": "relaygate.providers.gemini",
    "openai-responses": "relaygate.providers.openai_responses",
    "kling": "relaygate.providers.kling",
    "midjourney": "relaygate.providers.midjourney",
    "vertex": "relaygate.providers.vertex",
}
# protocol -> module defining MEDIA (images, audio) and/or TASKS (asynchronous video tasks)
_MEDIA_MODULES = {
    "openai": "relaygate.providers.openai_media",
    "kling": "relaygate.providers.kling",
    "midjourney": "relaygate.providers.midjourney",
}
# protocol -> the media tasks it serves (what load_media() finds there; tests/migration/test_plan.py checks),
# readable without importing the media modules (the migration planner decides with it)
# what each media protocol serves, by the planner's kinds; Midjourney's tasks are its own routes (/mj/...),
# never /v1/images, so the planner maps no images/audio/video model onto it
MEDIA_TASKS: dict[str, tuple[str, ...]] = {"openai": ("images", "audio", "video"), "kling": ("video",),
                                           "midjourney": ("midjourney",)}


def load_providers() -> dict[str, Provider]:
    return {name: importlib.import_module(module).PROVIDER for name, module in _MODULES.items()}


def protocols() -> list[str]:
    return sorted(_MODULES)


def load_media() -> tuple[dict[str, SyncMedia], dict[str, TaskProtocol]]:
    """(synchronous media by protocol, task protocols by protocol)."""
    sync: dict[str, SyncMedia] = {}
    tasks: dict[str, TaskProtocol] = {}
    for name, module in _MEDIA_MODULES.items():
        mod = importlib.import_module(module)
        if hasattr(mod, "MEDIA"):
            sync[name] = mod.MEDIA
        if hasattr(mod, "TASKS"):
            tasks[name] = mod.TASKS
    return sync, tasks
