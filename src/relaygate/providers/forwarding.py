"""What of the caller's request travels on to a same-dialect upstream: headers and the query string.

By default everything the client sent goes on (User-Agent, ``x-app``, ``x-claude-code-session-id``,
``x-stainless-*``, ``originator``, ``session_id``, ``x-codex-*``, ``x-goog-api-client``, ``accept``,
``anthropic-beta``...), because upstreams key behaviour and prompt caching on them, except:

- credentials (the caller's relaygate key never leaves relaygate; the provider sets the channel's);
- hop-by-hop headers (RFC 9110 section 7.6.1) and what the HTTP client computes itself;
- ``DENY``: headers that would tell the upstream the caller's address or relaygate's own request id.

A channel's ``options`` change it: ``forward_headers: false`` sends none, ``forward_headers: [names]``
sends only those, ``drop_headers: [names]`` adds names to the deny-list, ``forward_query: false``
drops the query string. docs/dialects.md lists the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

CREDENTIALS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie",
                         "proxy-authorization"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                        "upgrade", "proxy-authenticate"})
DENY = frozenset({"host", "content-length", "content-type", "accept-encoding", "expect", "x-request-id",
                  "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "forwarded",
                  "x-real-ip", "cf-connecting-ip", "true-client-ip", "via"})
DROPPED = CREDENTIALS | HOP_BY_HOP | DENY
QUERY_CREDENTIALS = frozenset({"key", "api_key", "api-key"})


def _names(value: Any) -> frozenset[str] | None:
    if isinstance(value, list):
        return frozenset(str(v).lower() for v in value)
    return None


def client_headers(headers: Mapping[str, str], options: Mapping[str, Any]) -> dict[str, str]:
    """The caller's headers (lower-case names) that go on to the upstream under the channel's options."""
    setting = options.get("forward_headers", True)
    if setting is False:
        return {}
    only = _names(setting)
    extra = _names(options.get("drop_headers"))
    dropped = DROPPED | extra if extra else DROPPED
    # names listed in the Connection header are hop-by-hop too
    listed = headers.get("connection")
    if listed:
        dropped = dropped | {n.strip().lower() for n in listed.split(",")}
    if only is not None:
        return {k: v for k, v in headers.items() if k in only and k not in dropped}
    return {k: v for k, v in headers.items() if k not in dropped}


def with_query(url: str, query: str, options: Mapping[str, Any]) -> str:
    """``url`` with the caller's query parameters added, minus a key and names the URL already has."""
    if not query or options.get("forward_query", True) is False:
        return url
    base, _, own = url.partition("?")
    have = {k for k, _ in parse_qsl(own, keep_blank_values=True)}
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
              if k.lower() not in QUERY_CREDENTIALS and k not in have]
    if not params:
        return url
    joined = urlencode(params)
    return f"{base}?{own}&{joined}" if own else f"{base}?{joined}"
