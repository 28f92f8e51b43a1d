"""The operator and support console: server-rendered pages (Jinja2 + vendored htmx and uPlot).

``app.build_console_app`` returns the ASGI app ``web/server.py`` mounts under ``/console`` (and ``/``
for browsers). Every action calls the services the CLI and the admin API call; handlers only parse,
check the role, call and render. Sign-in, sessions, CSRF, layout and language are in ``security``,
``context`` and ``i18n`` so the key-holder portal can reuse them.
"""
