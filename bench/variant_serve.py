"""Start `relaygate serve` with a process-level tweak applied first, for A/B runs (bench/ab.sh).

Nothing here changes relaygate's source: the tweak is applied in this process before the CLI runs.
VARIANT (comma-separated):
  base                     nothing changed
  gc=T0/T1/T2              gc.set_threshold(T0, T1, T2) before serving (CPython default 700/10/10)
  gcfreeze                 gc.freeze() once the app has started (moves start-up objects out of GC scans)
  nobill                   RELAYGATE_BILLING=false RELAYGATE_LIMITS=false
Arguments after the script name are passed to `relaygate serve`.
"""

from __future__ import annotations

import gc
import os
import sys


def apply(variant: str) -> None:
    for part in filter(None, (p.strip() for p in variant.split(","))):
        if part == "base":
            continue
        if part == "nobill":  # billing and rate limits off, the comparison issue 3 asks for
            os.environ["RELAYGATE_BILLING"] = "false"
            os.environ["RELAYGATE_LIMITS"] = "false"
            continue
        if part.startswith("gc="):
            gc.set_threshold(*(int(x) for x in part[3:].split("/")))
        elif part == "gcfreeze":
            import relaygate.web.asgi as asgi

            original = asgi.RelayApp.lifespan

            async def lifespan(self, receive, send, original=original):  # type: ignore[no-untyped-def]
                async def send_then_freeze(message):  # type: ignore[no-untyped-def]
                    await send(message)
                    if message.get("type") == "lifespan.startup.complete":
                        gc.collect()
                        gc.freeze()

                await original(self, receive, send_then_freeze)

            asgi.RelayApp.lifespan = lifespan  # type: ignore[method-assign]
        else:
            sys.exit(f"unknown variant part: {part}")


def main() -> None:
    apply(os.environ.get("VARIANT", "base"))
    from relaygate.cli.main import main as relaygate_main

    sys.argv = ["relaygate", "serve", *sys.argv[1:]]
    relaygate_main()


if __name__ == "__main__":
    main()
