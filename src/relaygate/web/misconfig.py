"""Requests that miss every endpoint: recognise the usual base-URL mistakes and say how to fix them."""

from __future__ import annotations

from collections.abc import Mapping

from relaygate.core.errors import GatewayError


def diagnose(method: str, path: str, base_url: str, headers: Mapping[str, str]) -> GatewayError | None:
    """A specific error for a recognised mistake, or None for the generic not_found."""
    return None
