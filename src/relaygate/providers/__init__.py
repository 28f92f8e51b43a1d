"""Upstream protocols, one module each, registered by name; vendors are data rows in vendors.py."""

from __future__ import annotations

import importlib

from relaygate.providers.base import Provider

# protocol name -> module defining PROVIDER. Adding a protocol is one new file and one row here.
_MODULES = {
    "openai": "relaygate.providers.openai_compat",
    "azure": "relaygate.providers.azure",
    "anthropic": "relaygate.providers.anthropic",
    "gemini": "relaygate.providers.gemini",
    "openai-responses": "relaygate.providers.openai_responses",
}


def load_providers() -> dict[str, Provider]:
    return {name: importlib.import_module(module).PROVIDER for name, module in _MODULES.items()}


def protocols() -> list[str]:
    return sorted(_MODULES)
