"""What a console handler works with (``Ctx``) and the ``page`` wrapper that signs in, checks roles and CSRF.

Portal pages reuse ``page`` with their own permission names and sign-in path; rules stay in services.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from relaygate.app import Gateway
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount, parse_amount
from relaygate.services.operate.audit import AuditLog
from relaygate.services.operate.operators import OperatorsAdmin
from relaygate.services.operate.roles import allowed
from relaygate.services.operate.websessions import WebSession, WebSessions
from relaygate.web.console.i18n import LANGS, known, pick_lang, translate
from relaygate.web.console.security import LANG_COOKIE, SESSION_COOKIE, Throttle, is_https, same_token

TEMPLATES = Path(__file__).parent / "templates"
NAV = [("/console/", "nav.overview", "read"), ("/console/channels", "nav.channels", "read"),
       ("/console/models", "nav.models", "read"), ("/console/owners", "nav.owners", "read"),
       ("/console/keys", "nav.keys", "read"), ("/console/balances", "nav.balances", "read"),
       ("/console/codes", "nav.short.codes", "read"),
       ("/console/usage", "nav.short.usage", "read"), ("/console/tasks", "nav.tasks", "read"),
       ("/console/support", "nav.short.support", "support"),
       ("/console/rollout", "nav.rollout", "read"), ("/console/migration", "nav.migration", "read"),
       ("/console/audit", "nav.audit", "audit"),
       ("/console/team", "nav.team", "operators"), ("/console/holders", "nav.holders", "read"),
       ("/portal/", "nav.portal.home", "self"), ("/portal/keys", "nav.portal.keys", "self"),
       ("/portal/requests", "nav.portal.requests", "self"), ("/portal/setup", "nav.portal.setup", "self"),
       ("/portal/redeem", "nav.portal.redeem", "self"), ("/portal/account", "nav.portal.account", "self")]
# in every asset URL: a new release's CSS and JS are fetched at once, not after the hour they may be cached
STATIC_VERSION = hashlib.sha256(b"".join(p.read_bytes() for p in sorted((Path(__file__).parent / "static")
                                                                         .rglob("*.*")))).hexdigest()[:12]


@dataclass
class Services:
    """What the console holds for its life: the gateway and the services built over its engine."""

    gw: Gateway
    operators: OperatorsAdmin
    sessions: WebSessions
    audit: AuditLog
    throttle: Throttle = field(default_factory=Throttle)
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)


@dataclass
class Ctx:
    request: Request
    svc: Services
    session: WebSession | None
    lang: str
    form: dict[str, str] = field(default_factory=dict)

    @property
    def gw(self) -> Gateway:
        return self.svc.gw

    @property
    def role(self) -> str:
        return self.session.role if self.session else ""

    @property
    def actor(self) -> str:
        if self.session is None:
            return "anonymous"
        if self.session.subject_kind == "user":
            return f"user:{self.session.subject_name}"
        return self.session.subject_name if self.session.subject_kind == "operator" else "admin-token"

    @property
    def ip(self) -> str | None:
        client = self.request.client
        if self.svc.gw.settings.trust_forwarded_for and "x-forwarded-for" in self.request.headers:
            return self.request.headers["x-forwarded-for"].split(",")[0].strip()
        return client.host if client else None

    def t(self, key: str, **values: object) -> str:
        return translate(self.lang, key, **values)

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)

    def money(self, nanos: int | None) -> str:
        return "—" if nanos is None else format_amount(int(nanos), self.gw.settings.currency)

    def money_plain(self, amount: str | None) -> str:
        """A decimal string in the deployment's currency (as the price list keeps it), with its symbol."""
        return "—" if amount is None else format_amount(parse_amount(amount), self.gw.settings.currency)

    def tr(self, prefix: str, value: str | None) -> str:
        """A code shown in the page's language when the messages name it (``prefix + value``), else as it is."""
        return self.t(prefix + value) if value and known(prefix + value) else (value or "")

    def q(self, name: str, default: str = "") -> str:
        return (self.request.query_params.get(name) or default).strip()

    def f(self, name: str, default: str = "") -> str:
        return (self.form.get(name) or default).strip()

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        tpl = self.svc.env.get_template(template)
        html = tpl.render(ctx=self, t=self.t, lang=self.lang, langs=LANGS, path=self.request.url.path,
                          full_path=_full_path(self.request), static_version=STATIC_VERSION,
                          nav=[(h, k) for h, k, p in NAV if self.can(p)], **values)
        return HTMLResponse(html, status_code=status)

    async def audit(self, action: str, target: str | None = None, before: Any = None, after: Any = None,
                    outcome: str = "ok") -> None:
        await self.svc.audit.record(self.actor, "console", action, target, before, after, self.ip, outcome)

    def error_page(self, exc: InvalidInput, status: int | None = None) -> HTMLResponse:
        return self.render("error.html", status=status or exc.status, message=exc.message(self.lang))


def _full_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def safe_next(value: str | None) -> str:
    """Only paths inside the console: never another site (no open redirect), never a scheme."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


async def read_form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded bodies (the console sends no files)."""
    body = await request.body()
    if len(body) > 1_000_000:
        raise InvalidInput("Form too large.", "表单过大。", status=413)
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[-1] for k, v in parsed.items()}


def set_cookie(response: Response, request: Request, svc: Services, name: str, value: str, max_age: int | None,
               http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only, samesite="lax",
                        secure=is_https(request.scope, svc.gw.settings))


Handler = Callable[[Ctx], Awaitable[Response]]


def page(svc: Services, permission: str = "read", login_path: str = "/console/login") -> Callable[[Handler], Any]:
    """Wrap a handler: a live session (else sign-in), the role's permission (else 403), CSRF on POST."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            lang = pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
            session = await svc.sessions.get(request.cookies.get(SESSION_COOKIE))
            if session is not None:
                role = await svc.operators.still_valid(session.subject_kind, session.subject_id,
                                                       svc.gw.admin_hashes)
                if role is None:
                    await svc.sessions.revoke(session.id_hash)
                    session = None
                elif role != session.role:
                    session = WebSession(session.id_hash, session.subject_kind, session.subject_id,
                                         session.subject_name, role, session.csrf, session.expires_at)
            ctx = Ctx(request, svc, session, lang)
            if session is None:
                target = f"{login_path}?next={quote(_full_path(request))}"
                if request.headers.get("hx-request"):
                    return Response(status_code=401, headers={"HX-Redirect": target})
                if request.method != "GET":
                    return ctx.render("error.html", status=401, message=ctx.t("error.signed_out"))
                return RedirectResponse(target, status_code=303)
            if request.method == "POST":
                ctx.form = await read_form(request)
                token = ctx.form.get("csrf") or request.headers.get("x-csrf-token")
                if not same_token(token, session.csrf) or not _same_origin(request):
                    await ctx.audit(f"csrf.{handler.__name__}", request.url.path, outcome="refused")
                    return ctx.render("error.html", status=403, message=ctx.t("error.csrf"))
            if not ctx.can(permission):
                if request.method == "POST":
                    await ctx.audit(f"denied.{handler.__name__}", request.url.path, outcome="refused")
                return ctx.render("error.html", status=403, message=ctx.t("error.forbidden", role=ctx.role))
            try:
                return await handler(ctx)
            except InvalidInput as exc:
                if request.method == "POST":
                    await ctx.audit(f"failed.{handler.__name__}", request.url.path,
                                    after={"error": exc.message("en")}, outcome="failed")
                return ctx.error_page(exc)

        return endpoint

    return wrap


def _same_origin(request: Request) -> bool:
    """A browser's POST names its origin; one from another site is refused even with a token."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def new_pre_token() -> str:
    return secrets.token_urlsafe(24)
