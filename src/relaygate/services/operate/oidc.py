"""OpenID Connect sign-in for the portal (authorization code flow with PKCE), with authlib.

authlib builds the authorization request and the PKCE challenge and validates the ID token's claims
(``CodeIDToken``: issuer, audience, expiry, issued-at, nonce, azp, at_hash); joserfc (authlib's JOSE
library) checks its signature against the provider's published keys (JWKS, fetched again once when a
key id is unknown, so a provider's key rotation just works). ``alg: none`` and HMAC algorithms are never
accepted. The provider's discovery document must name the configured issuer exactly. HTTP goes through
the gateway's aiohttp session.

Which portal account an identity signs in to: the one linked to (issuer, subject) before; else the one
account whose e-mail address equals the identity's *verified* e-mail (linked from then on); else, as
``RELAYGATE_OIDC_NEW_USERS`` says, a new account (its own owner, or a named owner) or a refusal.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import aiohttp

from relaygate.core.settings import Settings

if TYPE_CHECKING:  # authlib and joserfc (about 5 MB) are imported on the first sign-in, not by every worker
    from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
METADATA_TTL = 3600.0
LEEWAY_SECONDS = 60
CHECKED = ("iss", "aud", "exp", "nonce", "iat", "nbf", "azp", "sub", "at_hash")


class OidcRefused(Exception):
    """Why a sign-in did not complete; ``reason`` is a stable code (logged and audited, never a token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Started:
    url: str
    state: str
    nonce: str
    verifier: str


class Oidc:
    def __init__(self, settings: Settings, session: Callable[[], aiohttp.ClientSession | None]) -> None:
        self.settings = settings
        self.session = session
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.oidc_issuer and self.settings.oidc_client_id)

    @property
    def issuer(self) -> str:
        return self.settings.oidc_issuer.rstrip("/")

    async def _get_json(self, url: str) -> dict[str, Any]:
        session = self.session()
        if session is None:
            raise OidcRefused("provider_unreachable")
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=10), allow_redirects=False) as resp:
                if resp.status != 200:
                    raise OidcRefused("provider_error")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcRefused("provider_unreachable") from exc
        if not isinstance(data, dict):
            raise OidcRefused("provider_error")
        return data

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL:
            doc = await self._get_json(f"{self.issuer}/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcRefused("issuer_mismatch")  # a discovery document for another issuer
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(doc.get(field), str):
                    raise OidcRefused("provider_error")
            self._metadata, self._metadata_at, self._keys = doc, time.monotonic(), None
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        if self._keys is None or refresh:
            meta = await self.metadata()
            try:
                self._keys = KeySet.import_key_set(await self._get_json(meta["jwks_uri"]))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise OidcRefused("provider_error") from exc
        return self._keys

    async def begin(self, redirect_uri: str) -> Started:
        from authlib.common.security import generate_token
        from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
        from authlib.oauth2.rfc7636 import create_s256_code_challenge

        meta = await self.metadata()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(meta["authorization_endpoint"], self.settings.oidc_client_id, "code",
                                redirect_uri=redirect_uri, scope=self.settings.oidc_scopes, state=state, nonce=nonce,
                                code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
        return Started(url, state, nonce, verifier)

    async def finish(self, params: dict[str, str], started: Started, redirect_uri: str) -> dict[str, Any]:
        """The callback: check state, trade the code for tokens, verify the ID token; its claims."""
        if not params.get("state") or not hmac.compare_digest(params["state"], started.state):
            raise OidcRefused("state_mismatch")
        if params.get("error"):
            raise OidcRefused("provider_refused")
        code = params.get("code", "")
        if not code:
            raise OidcRefused("no_code")
        tokens = await self._token(code, started.verifier, redirect_uri)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRefused("no_id_token")
        return await self.verify(id_token, started.nonce, tokens.get("access_token"))

    async def _token(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        meta = await self.metadata()
        session = self.session()
        if session is None:
            raise OidcRefused("provider_unreachable")
        s = self.settings
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        headers = {"Accept": "application/json"}
        methods = meta.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if s.oidc_client_secret and "client_secret_basic" in methods:  # RFC 6749 2.3.1: form-encoded, then base64
            pair = f"{quote_plus(s.oidc_client_id)}:{quote_plus(s.oidc_client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = s.oidc_client_id
            if s.oidc_client_secret:
                form["client_secret"] = s.oidc_client_secret
        try:
            async with session.post(meta["token_endpoint"], data=form, allow_redirects=False, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=10)) as resp:
                data = await resp.json(content_type=None)
                if resp.status != 200 or not isinstance(data, dict):
                    raise OidcRefused("token_refused")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise OidcRefused("provider_unreachable") from exc
        return data

    async def verify(self, id_token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """Signature (JWKS), then issuer, audience, expiry, issued-at, nonce, azp and at_hash."""
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError

        keys = await self.keys()
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
            except InvalidKeyIdError:  # the provider rotated its keys: read them once more
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise OidcRefused("bad_signature") from exc
        claims = CodeIDToken(token.claims, token.header,
                             options={"iss": {"essential": True, "value": self.issuer},
                                      "aud": {"essential": True, "value": self.settings.oidc_client_id},
                                      "exp": {"essential": True}, "sub": {"essential": True}},
                             params={"nonce": nonce, "client_id": self.settings.oidc_client_id,
                                     "access_token": access_token})
        try:
            claims.validate(now=int(time.time()), leeway=LEEWAY_SECONDS)
        except JoseError as exc:
            claim = str(getattr(exc, "claim", "") or "")
            raise OidcRefused(f"bad_{claim}" if claim in CHECKED else "bad_claims") from exc
        return dict(claims)
