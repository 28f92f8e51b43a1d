"""The relay surface: raw ASGI on the hot path (asgi), misconfiguration answers, error
envelopes, One API's dashboard-billing endpoints and /metrics. Never imports FastAPI.
"""
