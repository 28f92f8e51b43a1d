"""The fake upstream server: demo upstream for users, and the upstream every test talks to."""

from relaygate.fakeupstream.server import FakeUpstream, serve_forever

__all__ = ["FakeUpstream", "serve_forever"]
