"""A worker that only relays does not carry the admin API's or the console's imports (issue 17: RSS at rest).

FastAPI, pydantic, Starlette and the console's templates are imported when /api or a console page is
first asked for; both still answer on that first request.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

WEB_LAYER = ("fastapi", "pydantic", "starlette", "jinja2", "relaygate.web.api", "relaygate.web.console",
             "authlib", "joserfc")  # the last two: OpenID Connect sign-in, imported on the first one

CODE = """
import asyncio, sys
from relaygate.core.secrets import new_key
from relaygate.core.settings import Settings
from relaygate.web.server import build_app

WEB = {web!r}

def loaded():
    return sorted(m for m in sys.modules if m.split('.')[0] in WEB or m.startswith(WEB))

async def call(app, path, accept=b'*/*'):
    sent = []
    async def receive():
        return {{'type': 'http.request', 'body': b'', 'more_body': False}}
    async def send(message):
        sent.append(message)
    scope = {{'type': 'http', 'method': 'GET', 'path': path, 'raw_path': path.encode(), 'query_string': b'',
             'headers': [(b'host', b'127.0.0.1'), (b'accept', accept)], 'client': ('127.0.0.1', 1),
             'server': ('127.0.0.1', 80), 'scheme': 'http', 'http_version': '1.1', 'root_path': ''}}
    await app(scope, receive, send)
    return sent[0]['status']

async def main():
    settings = Settings(database_url='sqlite+aiosqlite:///{tmp}/db.sqlite', data_dir='{tmp}', demo_upstream=False,
                        secrets_key=new_key())
    app = build_app(settings)
    events = [{{'type': 'lifespan.startup'}}]
    out = []
    async def receive():
        while not events:
            await asyncio.sleep(0.01)
        return events.pop(0)
    async def send(message):
        out.append(message)
    life = asyncio.create_task(app({{'type': 'lifespan'}}, receive, send))
    while not out:
        await asyncio.sleep(0.01)
    assert out[0]['type'] == 'lifespan.startup.complete', out
    assert await call(app, '/healthz') == 200
    assert not loaded(), loaded()                     # started and relaying: no web layer
    assert await call(app, '/api/usage') == 401       # the admin API answers its first request
    assert any(m.startswith('fastapi') for m in sys.modules)
    status = await call(app, '/console/login', b'text/html')
    assert status in (200, 303), status               # and so does the console
    assert 'relaygate.web.console' in sys.modules
    events.append({{'type': 'lifespan.shutdown'}})
    await life
    print('ok')

asyncio.run(main())
"""


def test_relay_worker_imports_the_admin_api_and_console_on_first_use(tmp_path: Path) -> None:
    code = CODE.format(web=WEB_LAYER, tmp=tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
