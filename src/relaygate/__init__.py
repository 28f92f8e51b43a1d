"""relaygate: one OpenAI-compatible entry in front of many AI upstreams."""

__version__ = "0.1.0"
