"""Process settings: every knob in one table, read from the environment, documented in docs/settings.md."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _setting(default: Any, doc: str, env: str | None = None) -> Any:
    return field(default=default, metadata={"doc": doc, "env": env})


@dataclass(frozen=True)
class Settings:
    """Every setting of a relaygate process. Environment name: ``RELAYGATE_<NAME>`` unless noted."""

    database_url: str = _setting(
        "",
        "SQLAlchemy async URL of the database. Empty: the SQLite file relaygate.db (WAL) under "
        "RELAYGATE_DATA_DIR, the same file whatever the current directory; postgresql+asyncpg://… and "
        "mysql+aiomysql://… are first-class.", "RELAYGATE_DATABASE_URL")
    host: str = _setting("127.0.0.1", "Address the gateway listens on.")
    port: int = _setting(8790, "Port the gateway listens on (One API / New API use 3000; relaygate does not).")
    workers: int = _setting(1, "Number of worker processes for `relaygate serve`.")
    public_base_url: str = _setting(
        "", "The base URL callers should use (e.g. https://ai.example.com/v1). Empty: derived from "
        "the request's Host header.")
    demo_upstream: bool = _setting(
        True, "Run the built-in demo upstream inside `relaygate serve` (deterministic answers, no "
        "provider account needed). The first start registers a channel named 'demo' pointing at it.")
    demo_port: int = _setting(8791, "Port of the built-in demo upstream (loopback only).")
    auto_migrate: bool = _setting(True, "Apply database migrations at start-up.")
    max_body_bytes: int = _setting(33_554_432, "Largest request body accepted, in bytes (413 above it).")
    max_attempts: int = _setting(3, "Most upstream attempts per request, across channels (failover bound).")
    config_poll_seconds: float = _setting(
        1.0, "How often each worker checks the database for changed keys and routing (revocation "
        "takes at most this long plus one reload).")
    usage_flush_seconds: float = _setting(0.5, "Longest time a usage record waits in memory before it is written.")
    usage_batch_size: int = _setting(500, "Usage records written per database batch.")
    usage_buffer_limit: int = _setting(
        200_000, "Usage records kept in memory while the database is unreachable; beyond it they are "
        "appended to data/usage-spill.jsonl and re-read later, so none is lost.")
    usage_spool: bool = _setting(
        True, "Journal every finished request (usage record and ledger entries) to data/spool/ before "
        "its answer leaves, so a killed process loses none; replayed at the next start.")
    usage_spool_sync_seconds: float = _setting(
        0.05, "How often running streams' progress is journalled and the spool fdatasync-ed (group "
        "commit): the most output of a stream a killed process leaves uncharged, and the most a machine "
        "crash can lose.")
    instance_heartbeat_seconds: float = _setting(
        2.0, "How often each process writes its heartbeat, and sweeps holds of processes that are gone.")
    instance_stale_seconds: float = _setting(
        15.0, "A process whose heartbeat is older than this is gone: its holds are released (on the "
        "same machine a free spool lock says so at once).")
    failure_threshold: int = _setting(3, "Consecutive failures after which a channel cools down.")
    cooldown_seconds: float = _setting(30.0, "First cool-down of a failing channel; doubles per failed probe.")
    cooldown_max_seconds: float = _setting(600.0, "Longest cool-down between probes.")
    probe_interval_seconds: float = _setting(1.0, "How often the health task looks for channels due a probe.")
    sticky_session_seconds: float = _setting(
        3600.0, "How long an idle agent session (Claude Code / Codex session id, prompt_cache_key) keeps its "
        "channel and upstream key; 0 turns sticky sessions off.")
    recovery_probe_seconds: float = _setting(
        3.0, "While a channel cools down it is probed at least this often; the first successful probe "
        "brings it back.")
    store_prompts: bool = _setting(False, "Store request bodies in usage records (off: prompts are never stored).")
    trust_forwarded_for: bool = _setting(
        False, "Take the caller IP from X-Forwarded-For (only behind a proxy you control).")
    data_dir: str = _setting(
        "", "Folder for the SQLite file, spill files and generated reports. Empty: "
        "$XDG_DATA_HOME/relaygate, else ~/.local/share/relaygate (the container image uses /data, the "
        "systemd unit /var/lib/relaygate). Relative paths are taken from the current directory.")
    init: bool = _setting(
        False, "Let CLI commands other than `serve` create a new, empty database (like `relaygate --init …`); "
        "without it they refuse and name the database they looked for.")
    log_level: str = _setting("info", "Log level: debug, info, warning, error.")
    log_format: str = _setting(
        "text", "Server log format: 'text' (one readable line per event) or 'json' (one JSON object per "
        "line, for log shippers).")
    access_log: bool = _setting(
        True, "Write one access line per relayed request (request id, key id, model, channel, status, "
        "error code, tokens, latency); never a secret or a prompt.")
    admin_token: str = _setting(
        "", "First admin token, used instead of a generated one when the database is set up (must start "
        "with rga- and have at least 32 characters after it). Nothing secret is then printed.")
    admin_token_file: str = _setting(
        "", "File holding the first admin token (e.g. a Docker or systemd secret); read at the first "
        "start like RELAYGATE_ADMIN_TOKEN.")
    first_run_output: str = _setting(
        "print", "Where a first start without RELAYGATE_ADMIN_TOKEN(_FILE) puts the generated admin token and "
        "first API key: 'print' (once, to the terminal) or 'file' (RELAYGATE_DATA_DIR/first-run-secrets.txt, "
        "mode 0600, so no secret reaches container or journal logs; the container image uses 'file').")
    metrics: bool = _setting(True, "Serve Prometheus metrics on /metrics.")
    metrics_token: str = _setting(
        "", "Bearer token /metrics requires (Authorization: Bearer …). Empty: /metrics is open, so keep "
        "it off public networks.")
    ready_writer_lag_seconds: float = _setting(
        60.0, "/health/ready answers 503 when the oldest usage record not yet written is older than this "
        "(the usage writer is stuck or the database refuses writes).")
    otel_endpoint: str = _setting(
        "", "OTLP/HTTP endpoint for OpenTelemetry traces (e.g. http://collector:4318; /v1/traces is "
        "added). Empty: tracing off, at no cost. Needs the 'otel' extra (pip install 'relaygate[otel]').",
        "OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_service_name: str = _setting("relaygate", "service.name of exported traces.", "OTEL_SERVICE_NAME")
    lang: str = _setting("", "Language of CLI text: en or zh-CN. Empty: from LANG.")
    currency: str = _setting("USD", "Currency of prices and balances: USD or CNY.")
    usd_rate: str = _setting(
        "1", "Units of the currency per US dollar (e.g. 7.2 for CNY); used to convert imported One API "
        "quota (500,000 units per USD) and for USD figures on the dashboard billing endpoints.")
    billing: bool = _setting(True, "Hold, settle and record costs against balances and key caps.")
    limits: bool = _setting(True, "Enforce per-key and per-group rate limits (requests, tokens, concurrency).")
    unpriced_models: str = _setting(
        "refuse", "What to do with a model that has no price: 'refuse' (403 model_price_missing) or "
        "'default' (bill at the default prices below).")
    default_input_price: str = _setting("0", "Default price per 1M input tokens for unpriced models.")
    default_output_price: str = _setting("0", "Default price per 1M output tokens for unpriced models.")
    default_max_output_tokens: int = _setting(
        4096, "Output tokens held for a request that sends no max_tokens and whose price sets none.")
    alert_webhook_url: str = _setting("", "URL that receives budget alerts as JSON POSTs (empty: none).")
    docs_url: str = _setting(
        "", "Public URL of the error reference; error bodies then carry a doc_url to the page of their "
        "code (e.g. https://docs.example.com/relaygate → …/errors/invalid_api_key).")
    gc_tuning: bool = _setting(
        True, "Freeze start-up objects and raise the garbage collector's thresholds once serving "
        "(measured: about +35% throughput and a quarter of the p99 latency; see docs/benchmarks.md).")
    media_poll_seconds: float = _setting(
        2.0, "How often the media task loop polls upstreams for tasks in flight (video).")
    media_task_ttl_seconds: float = _setting(
        1800.0, "A media task with no end after this long is expired and its hold released in full "
        "(at most 3,000 s: holds of memory counters live an hour).")
    media_result_ttl_seconds: float = _setting(
        86400.0, "How long a finished task's result can be downloaded through the gateway.")
    media_max_upload_bytes: int = _setting(
        209_715_200, "Largest multipart upload (image edits, audio transcriptions), in bytes (413 above it). "
        "Uploads are spooled to disk, not held in memory.")
    media_max_reference_bytes: int = _setting(
        20_971_520, "Largest reference image of a video task, in bytes (413 above it).")
    media_callback_attempts: int = _setting(6, "Delivery attempts of a task callback before it is marked failed.")
    media_callback_secret: str = _setting(
        "", "Server secret that keys' callback signing secrets derive from. Empty: a random one kept in "
        "the data folder (callback-secret).")
    media_allow_hosts: str = _setting(
        "", "Hosts or networks (comma-separated) that callback and reference URLs may point at even though "
        "they are loopback or private (e.g. 10.0.0.0/8,hooks.internal). Empty: public addresses only.")
    console_hosts: str = _setting(
        "", "Extra Host names the web console answers to, comma-separated (loopback, the listen address and "
        "the public base URL's host are always allowed; '*' allows any, only behind a proxy that checks it).")
    console_session_hours: float = _setting(
        12.0, "Longest life of a console sign-in; an idle one ends after 2 hours.")
    # the key holders' portal: accounts, e-mail, single sign-on, notices (docs/portal.md)
    portal_signup: str = _setting(
        "off", "Self-registration in the portal: 'off' (only accounts operators create or invite), 'invite' "
        "(a sign-up code an operator made is needed) or 'open' (anyone; each account gets its own owner).")
    portal_signup_keys: int = _setting(
        3, "Keys a self-registered account may create itself (its owner's self-service policy; 0: none).")
    portal_reset_minutes: int = _setting(60, "Life of a password-reset link (single use).")
    smtp_host: str = _setting(
        "", "SMTP server for the portal's e-mails (verification, password reset, invites, low-balance notices). "
        "Empty: no e-mail; sign-ups are not verified and resets are done by an operator.")
    smtp_port: int = _setting(587, "SMTP port.")
    smtp_security: str = _setting("starttls", "SMTP transport security: 'starttls', 'tls' (implicit, port 465) "
                                  "or 'none' (only for a relay on the same machine or network).")
    smtp_username: str = _setting("", "SMTP user name (empty: no authentication).")
    smtp_password: str = _setting("", "SMTP password (never logged).")
    smtp_from: str = _setting("", "Sender address of the portal's e-mails, e.g. 'AI gateway <ai@example.com>'.")
    oidc_issuer: str = _setting(
        "", "OpenID Connect issuer URL (its /.well-known/openid-configuration is read). Empty: no single "
        "sign-on button in the portal.")
    oidc_client_id: str = _setting("", "OpenID Connect client id registered for relaygate.")
    oidc_client_secret: str = _setting("", "OpenID Connect client secret (never logged).")
    oidc_scopes: str = _setting("openid email profile", "Scopes requested at sign-in.")
    oidc_label: str = _setting("Single sign-on", "Label of the portal's single sign-on button.")
    oidc_new_users: str = _setting(
        "", "What a first OpenID Connect sign-in without a linked account does: empty refuses (an operator "
        "invites the person, or their verified e-mail matches a portal user's), 'own' gives each person a new "
        "owner of their own, any other value is the owner new accounts join.")
    notice_check_seconds: float = _setting(
        30.0, "How often key holders' low-balance notices are checked (off the request path); a crossing is "
        "noticed within this time and sent once.")
    rollup_seconds: float = _setting(
        30.0, "How often the hourly usage rollups behind the console's charts are brought up to date.")
    secrets_key: str = _setting(
        "", "Key that encrypts upstream (channel) secrets at rest: base64url of 32 bytes (`relaygate secrets "
        "new-key` prints one). Several, comma-separated: the first encrypts, all decrypt (during a rotation). "
        "Empty: the key file below.")
    secrets_key_file: str = _setting(
        "", "File with the secrets key (one per line, the first encrypts). Empty: secrets.key beside the SQLite "
        "file, or in data_dir for PostgreSQL/MariaDB; created (mode 0600) at the first start while the database "
        "holds no encrypted secret. Back it up apart from the database.")
    redis_url: str = _setting(
        "", "Redis URL for state shared by several workers or machines (holds, caps, rate limits).",
        "REDIS_URL")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ) if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata.get("env") or f"RELAYGATE_{f.name.upper()}"
            if name in env and env[name] != "":
                values[f.name] = _coerce(f.default, env[name])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{self.data_path / 'relaygate.db'}")

    @property
    def data_path(self) -> Path:
        """The data folder as an absolute path: the same folder for every command, wherever it runs."""
        if self.data_dir:
            return Path(self.data_dir).expanduser().absolute()
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base).expanduser().absolute() / "relaygate"

    def sqlite_path(self) -> Path | None:
        """The SQLite file the database URL names, or None for a server database (or in-memory SQLite)."""
        url = self.database_url
        if not url.startswith("sqlite"):
            return None
        _, _, rest = url.partition(":///")
        rest = rest.split("?", 1)[0]
        if not rest or rest == ":memory:":
            return None
        return Path(rest).expanduser().absolute()

    def lang_code(self) -> str:
        raw = self.lang or os.environ.get("LANG", "")
        return "zh-CN" if raw.lower().startswith("zh") else "en"


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def setting_rows() -> list[tuple[str, str, Any, str]]:
    """(field, environment variable, default, doc) for every setting, for docs and tests."""
    rows = []
    for f in fields(Settings):
        env = f.metadata.get("env") or f"RELAYGATE_{f.name.upper()}"
        rows.append((f.name, env, f.default, f.metadata["doc"]))
    return rows
