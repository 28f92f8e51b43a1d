"""The admin REST API under /api (FastAPI): thin routes over services/operate and friends."""
