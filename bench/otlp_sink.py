"""An OTLP/HTTP sink for benchmarks: accepts POST /v1/traces on 127.0.0.1:4318, counts spans, answers 200."""

from __future__ import annotations

import sys

from aiohttp import web

SPANS = {"batches": 0, "bytes": 0}


async def traces(request: web.Request) -> web.Response:
    SPANS["batches"] += 1
    SPANS["bytes"] += len(await request.read())
    return web.Response(body=b"", content_type="application/x-protobuf")


async def stats(_: web.Request) -> web.Response:
    return web.json_response(SPANS)


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 4318, print=None)
