"""A small OpenID Connect provider on a real socket: discovery document, JWKS, an authorization endpoint that
approves at once, a token endpoint (client secret, single-use codes, PKCE S256, redirect URI) and RS256-signed
ID tokens. ``mode`` makes it misbehave the ways a sign-in must refuse: another issuer, another audience, an
expired token, a wrong nonce, a forged signature, a changed state; ``rotate`` signs with a new key."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "relaygate-portal"
CLIENT_SECRET = "fake-oidc-client-secret"


@dataclass
class FakeOidc:
    mode: str = "ok"
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "u-1", "email": "lin@example.com",
                                                          "email_verified": True, "preferred_username": "lin"})
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    other: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    published: list[RSAKey] = field(default_factory=list)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_calls: int = 0
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rotate(self) -> None:
        """A new signing key; JWKS serves both from now on (relying parties learn it on the next fetch)."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"k{len(self.published) + 2}"})
        self.published.append(self.key)

    async def start(self) -> FakeOidc:
        self.published = [self.key]
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"]})

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [k.as_dict(private=False) for k in self.published]})

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code" or \
                q.get("code_challenge_method") != "S256" or "openid" not in q.get("scope", "").split():
            return web.Response(status=400, text="bad authorization request")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        state = q["state"] + "x" if self.mode == "bad_state" else q["state"]
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': state})}")

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        form = await request.post()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None or form.get("grant_type") != "authorization_code" or \
                form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if challenge != grant["challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"],
                  **self.user}
        if self.mode == "bad_iss":
            claims["iss"] = "http://evil.example"
        elif self.mode == "bad_aud":
            claims["aud"] = "another-client"
        elif self.mode == "expired":
            claims.update(iat=now - 3600, exp=now - 600)
        elif self.mode == "bad_nonce":
            claims["nonce"] = "not-the-nonce"
        key = self.other if self.mode == "bad_signature" else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                  "expires_in": 300, "id_token": id_token})

    def settings(self) -> dict[str, Any]:
        return {"oidc_issuer": self.issuer, "oidc_client_id": CLIENT_ID, "oidc_client_secret": CLIENT_SECRET,
                "oidc_label": "Sign in with Example SSO"}
