"""Prometheus text for /metrics, computed from the gateway's own counters when scraped."""

from __future__ import annotations

from relaygate.app import Gateway


def render_metrics(gateway: Gateway) -> bytes:
    lines = [
        "# HELP relaygate_usage_pending Usage records waiting to be written.",
        "# TYPE relaygate_usage_pending gauge",
        f"relaygate_usage_pending {gateway.usage.pending}",
        "# HELP relaygate_usage_written_total Usage records written by this process.",
        "# TYPE relaygate_usage_written_total counter",
        f"relaygate_usage_written_total {gateway.usage.written}",
        "# HELP relaygate_channel_cooling 1 when a channel is cooling down after failures.",
        "# TYPE relaygate_channel_cooling gauge",
    ]
    for cid, channel in sorted(gateway.state.snapshot.channels.items()):
        cooling = 0 if gateway.health.is_available(cid) else 1
        lines.append(f'relaygate_channel_cooling{{channel="{channel.name}"}} {cooling}')
    return ("\n".join(lines) + "\n").encode()
