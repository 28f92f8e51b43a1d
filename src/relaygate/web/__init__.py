"""HTTP surfaces: the relay endpoints (raw ASGI for speed) and the admin REST API (FastAPI). Thin."""
