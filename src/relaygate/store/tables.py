"""SQLAlchemy table definitions: the one schema, portable over SQLite, PostgreSQL and MariaDB/MySQL.

Times are epoch milliseconds in BIGINT columns (portable and cheap to compare); lists and maps are
JSON. Alembic migrations in ``store/migrations`` create exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql

from relaygate.store.sealed import SealedJSON
from relaygate.store.wide import WideInt

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere use 64-bit ids.
BigId = BigInteger().with_variant(Integer, "sqlite")

owners = Table(
    "owners", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False, default="person"),
    Column("email", String(255)),
    Column("note", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

groups = Table(
    "groups", metadata,
    Column("name", String(64), primary_key=True),
    Column("description", Text),
    Column("models", JSON),  # null: every model; else the public names the group may use
    Column("multiplier_ppm", BigInteger, nullable=False, default=1_000_000),  # price multiplier
    Column("rpm", BigInteger),  # limits are 64-bit everywhere (a tpm of 10^12 must fit on PostgreSQL)
    Column("tpm", BigInteger),
    Column("concurrency", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("masked", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("owner_id", String(32), ForeignKey("owners.id"), nullable=False),
    Column("group_name", String(64), nullable=False, default="default"),
    Column("environment", String(16), nullable=False, default="production"),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", String(255)),
    Column("expires_at", BigInteger),
    Column("allowed_models", JSON),
    Column("allowed_networks", JSON),
    Column("source", String(32), nullable=False, default="native"),
    Column("cap_total", BigInteger),  # spend caps in nanos; null: spend the owner's balance freely
    Column("cap_daily", BigInteger),
    Column("cap_monthly", BigInteger),
    Column("rpm", BigInteger),
    Column("tpm", BigInteger),
    Column("concurrency", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_api_keys_owner", "owner_id"),
    Index("ix_api_keys_updated", "updated_at"),
)

channels = Table(
    "channels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("protocol", String(32), nullable=False, default="openai"),
    Column("base_url", String(512), nullable=False),
    Column("secrets", SealedJSON, nullable=False),  # encrypted at rest (store/sealed.py)
    Column("models", JSON, nullable=False),  # {public name: upstream name}
    Column("groups", JSON),  # null: every group
    Column("priority", Integer, nullable=False, default=0),
    Column("weight", Integer, nullable=False, default=1),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", String(255)),
    Column("connect_timeout", Float, nullable=False, default=10.0),
    Column("first_byte_timeout", Float, nullable=False, default=60.0),
    Column("total_timeout", Float, nullable=False, default=600.0),
    Column("options", JSON),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

models = Table(
    "models", metadata,
    Column("name", String(128), primary_key=True),
    Column("aliases", JSON),
    Column("status", String(16), nullable=False, default="active"),
    Column("replacement", String(128)),
    Column("description", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("capabilities", JSON),  # {"reasoning": bool}: what a translation may send (docs/dialects.md)
)

channel_health = Table(
    "channel_health", metadata,
    Column("channel_id", Integer, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("reason", String(512)),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("cooldown_until", BigInteger),
    Column("updated_at", BigInteger, nullable=False),
)

usage_records = Table(
    "usage_records", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("request_id", String(40), nullable=False, unique=True),
    Column("ts", BigInteger, nullable=False),
    Column("key_id", String(32)),
    Column("masked_key", String(32)),
    Column("owner_id", String(32)),
    Column("group_name", String(64)),
    Column("environment", String(16)),
    Column("client", String(32)),
    Column("client_version", String(32)),
    Column("entry_path", String(128)),
    Column("host", String(255)),
    Column("requested_model", String(128)),
    Column("upstream_model", String(128)),
    Column("channel_id", Integer),
    Column("attempts", Integer, nullable=False, default=0),
    Column("status", Integer, nullable=False),
    Column("error_code", String(48)),
    Column("prompt_tokens", Integer, nullable=False, default=0),
    Column("completion_tokens", Integer, nullable=False, default=0),
    Column("total_tokens", Integer, nullable=False, default=0),
    Column("cached_tokens", Integer, nullable=False, default=0),
    Column("stream", Boolean, nullable=False, default=False),
    Column("latency_ms", Integer, nullable=False, default=0),
    Column("ttft_ms", Integer),
    Column("caller_ip", String(64)),
    Column("estimated", Boolean, nullable=False, default=False),
    Column("cost", BigInteger, nullable=False, default=0),
    Column("detail", JSON),  # attempts: [{channel_id, status, error, ms}], finish notes
    Column("body", Text),  # only when the operator turned store_prompts on
    Column("route", String(16)),  # native | legacy (forwarded to the old entry during a rollout)
    Index("ix_usage_key_ts", "key_id", "ts"),
    Index("ix_usage_owner_ts", "owner_id", "ts"),
    Index("ix_usage_ts", "ts"),
    Index("ix_usage_route_ts", "route", "ts"),
    Index("ix_usage_code_ts", "error_code", "ts"),  # the usage page's error-code filter, the desk's mistakes
)

prices = Table(
    "prices", metadata,
    Column("model", String(128), primary_key=True),  # public model name
    Column("input_per_m", BigInteger, nullable=False, default=0),  # nanos per 1M tokens
    Column("cached_input_per_m", BigInteger),
    Column("output_per_m", BigInteger, nullable=False, default=0),
    Column("per_request", BigInteger),  # nanos per call (images, other per-call models)
    Column("free", Boolean, nullable=False, default=False),
    Column("max_output_tokens", BigInteger),  # hold size when the caller sends no max_tokens
    Column("updated_at", BigInteger, nullable=False),
)

ledger_entries = Table(
    "ledger_entries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("owner_id", String(32), nullable=False),
    Column("key_id", String(32)),
    Column("kind", String(16), nullable=False),  # topup adjustment hold settle release refund import expiry
    Column("amount", WideInt, nullable=False, default=0),  # effect on the balance, nanos, signed, any size
    Column("held", BigInteger, nullable=False, default=0),  # effect on the amount held (hold +, release -)
    Column("request_id", String(40)),
    Column("model", String(128)),
    Column("reason", Text),
    Column("actor", String(128)),
    Column("ref", String(255)),  # source row for imports, payment reference for top-ups
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("kind", "request_id", name="uq_ledger_kind_request"),
    Index("ix_ledger_owner_time", "owner_id", "created_at"),
    Index("ix_ledger_key_time", "key_id", "created_at"),
    Index("ix_ledger_kind_time", "kind", "created_at"),
)

balances = Table(
    "balances", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("balance", WideInt, nullable=False, default=0),  # = sum(ledger.amount), exact at any size
    Column("held", BigInteger, nullable=False, default=0),  # = sum(ledger.held)
    Column("updated_at", BigInteger, nullable=False),
)

alert_rules = Table(
    "alert_rules", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(8), nullable=False),  # owner | key
    Column("target", String(32), nullable=False),  # owner id or key id
    Column("kind", String(16), nullable=False),  # cap_percent | balance_below
    Column("threshold", BigInteger, nullable=False),  # percent (cap_percent) or nanos (balance_below)
    Column("cap", String(8)),  # total | daily | monthly, for cap_percent
    Column("created_at", BigInteger, nullable=False),
)

alert_events = Table(
    "alert_events", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule_id", Integer, nullable=False),
    Column("scope", String(8), nullable=False),
    Column("target", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Column("value", BigInteger, nullable=False),
    Column("delivered", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_alert_events_time", "created_at"),
)

admin_tokens = Table(
    "admin_tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- gray rollout (services/rollout): the old entry, batches, their history, hand-overs, evidence ---

rollout_settings = Table(
    "rollout_settings", metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("base_url", String(512)),  # the old One API / New API root; null: no legacy channel
    Column("unknown_keys", String(8), nullable=False, default="legacy"),  # legacy | reject
    Column("source_dsn", String(1024)),  # the old database (read; written only with write_old)
    Column("logs_dsn", String(1024)),
    Column("write_old", Boolean, nullable=False, default=False),
    Column("guard_seconds", Float, nullable=False, default=30.0),
    Column("updated_by", String(128)),
    Column("updated_at", BigInteger, nullable=False),
)

rollout_batches = Table(
    "rollout_batches", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("position", Integer, nullable=False),
    Column("description", Text),
    Column("selector", JSON, nullable=False),  # owners, keys, environments, percent, rest
    Column("switch_at", BigInteger),  # planned switch time
    Column("rollback_deadline", BigInteger),
    Column("rollback_window_ms", BigInteger),  # deadline = first switch + window, when no fixed deadline
    Column("conditions", JSON, nullable=False),
    Column("window_seconds", Integer, nullable=False),
    Column("min_requests", Integer, nullable=False),
    Column("baseline_days", Integer, nullable=False),
    Column("auto_rollback", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False),  # planned switched observing completed rolled_back
    Column("switches", Integer, nullable=False, default=0),
    Column("rollbacks", Integer, nullable=False, default=0),
    Column("switched_at", BigInteger),
    Column("first_switched_at", BigInteger),
    Column("completed_at", BigInteger),
    Column("created_by", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

rollout_transitions = Table(  # append-only: who moved which batch, when and why
    "rollout_transitions", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", JSON),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_rollout_transitions_batch", "batch_id", "id"),
)

rollout_members = Table(  # owners frozen into a batch at its first switch; an owner is in one batch
    "rollout_members", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("batch_id", Integer, nullable=False),
    Column("joined_at", BigInteger, nullable=False),
    # where the owner is served now and the last move done for it, changed in the same transaction as its
    # hand-over: an owner is never moved without its balance, nor its balance without the owner
    Column("route", String(8), nullable=False, default="legacy"),  # legacy | native
    Column("step", String(16)),  # switch | rollback | complete: the owner's last move that was done
    Column("failure", Text),  # why the owner's last move did not happen (null: it did)
    Column("updated_at", BigInteger),
    Index("ix_rollout_members_batch", "batch_id"),
)

rollout_handovers = Table(  # balance hand-over steps per owner: syncs booked, old-quota writes
    "rollout_handovers", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, nullable=False),
    Column("owner_id", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # sync | write
    Column("cause", String(16), nullable=False),  # switch rollback complete sync
    Column("old_user_id", BigInteger, nullable=False),
    Column("old_quota", WideInt),  # the old quota read (sync) or before the write
    Column("delta_quota", WideInt),  # write: quota units added to the old quota
    Column("amount", WideInt, nullable=False, default=0),  # nanos booked in relaygate's ledger
    Column("state", String(16), nullable=False),  # done pending writing written confirmed skipped failed
    Column("request_id", String(40), nullable=False),
    Column("note", Text),
    Column("actor", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("owner_id", "seq", name="uq_rollout_handover_seq"),
    Index("ix_rollout_handovers_batch", "batch_id", "id"),
)

rollout_trips = Table(  # guard conditions that tripped, once per batch, switch and class
    "rollout_trips", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("batch_id", Integer, nullable=False),
    Column("switch_no", Integer, nullable=False),
    Column("error_class", String(24), nullable=False),
    Column("rate", Float, nullable=False),
    Column("baseline", Float),
    Column("threshold", String(64), nullable=False),
    Column("requests", Integer, nullable=False),
    Column("action", String(16), nullable=False),  # alerted rolled_back window_closed
    Column("message", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("batch_id", "switch_no", "error_class", name="uq_rollout_trip"),
)

rollout_verdicts = Table(  # the guard's last verdict per batch, whichever worker reached it (replaced)
    "rollout_verdicts", metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=False),
    Column("verdict", JSON, nullable=False),
    Column("judged_at", BigInteger, nullable=False),
)

rollout_disputes = Table(
    "rollout_disputes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner_id", String(32), nullable=False),
    Column("batch_id", Integer),
    Column("note", Text, nullable=False),
    Column("status", String(16), nullable=False, default="open"),  # open | resolved
    Column("resolution", Text),
    Column("created_by", String(128)),
    Column("created_at", BigInteger, nullable=False),
    Column("resolved_at", BigInteger),
)

rollout_checklist = Table(  # retiring the old entry: documents, screenshots, support macros, base URL
    "rollout_checklist", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("item", Text, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("note", Text),
    Column("done_by", String(128)),
    Column("done_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
)

# --- carried over from One API / New API (services/migration) ---

key_rules = Table(  # an imported key's old-system rules (core/compat.py KeyRules), read into the snapshot
    "key_rules", metadata,
    Column("key_id", String(32), primary_key=True),
    Column("rules", JSON, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

redemption_codes = Table(  # One API / New API redemption codes: unused ones stay redeemable with the same code
    "redemption_codes", metadata,
    Column("id", String(40), primary_key=True),  # <tag>_<source id>
    Column("code_hash", String(64), nullable=False, unique=True),  # core.keys.hash_secret of the code as stored
    Column("masked", String(32), nullable=False),
    Column("name", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),  # nanos of relaygate's currency
    Column("status", String(16), nullable=False),  # unused | used | disabled
    Column("expires_at", BigInteger),  # ms; null: never
    Column("redeemed_at", BigInteger),
    Column("redeemed_by", String(32)),  # owner id (used codes)
    Column("source", String(32), nullable=False),
    Column("ref", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("max_uses", Integer, nullable=False, default=1, server_default="1"),  # redemptions, each by another owner
    Column("uses", Integer, nullable=False, default=0, server_default="0"),
)

redemption_uses = Table(  # one row per redemption: an owner redeems a code at most once
    "redemption_uses", metadata,
    Column("code_id", String(40), primary_key=True),
    Column("owner_id", String(32), primary_key=True),
    Column("actor", String(128), nullable=False),
    Column("redeemed_at", BigInteger, nullable=False),
)

# --- media: images, audio and asynchronous video tasks ------------------------------------------

media_prices = Table(
    "media_prices", metadata,
    Column("model", String(128), primary_key=True),  # public model name
    Column("unit", String(16), primary_key=True),  # image | second | mchars | mtokens | call
    Column("variant", String(64), primary_key=True),  # size/quality ("1024x1024/hd"), resolution, or "*"
    Column("amount", BigInteger, nullable=False),  # nanos per unit (per 1M characters or output tokens)
    Column("updated_at", BigInteger, nullable=False),
)

media_tasks = Table(
    "media_tasks", metadata,
    Column("id", String(40), primary_key=True),  # ours (task_…), never the upstream's
    Column("request_id", String(40), nullable=False, unique=True),  # the submit request: its usage + ledger rows
    Column("owner_id", String(32), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("masked_key", String(32)),
    Column("group_name", String(64)),
    Column("model", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # video
    Column("surface", String(16), nullable=False),  # how the caller submitted: openai | kling
    Column("protocol", String(32), nullable=False),
    Column("channel_id", Integer, nullable=False),
    Column("upstream_model", String(128)),
    Column("upstream_task_id", String(255)),
    Column("state", String(16), nullable=False),  # queued running succeeded failed cancelled expired
    Column("upstream_started", Boolean, nullable=False, default=False),
    Column("progress", Integer, nullable=False, default=0),
    Column("prompt_summary", String(255)),  # only when the operator allows prompt storage
    Column("params", JSON),  # size, resolution, seconds, aspect ratio
    Column("refs", JSON),  # reference material fingerprints: [{sha256, size, type}]
    Column("callback_url", String(1024)),
    Column("callback_state", String(16)),  # none | pending | delivered | failed
    Column("callback_attempts", Integer, nullable=False, default=0),
    Column("callback_next_at", BigInteger),
    Column("result", JSON),  # upstream result locations (never shown to callers)
    Column("download_state", String(16)),  # none | ready | expired
    Column("result_expires_at", BigInteger),
    Column("review", String(255)),  # moderation outcome when the upstream reports one
    Column("error_code", String(48)),
    Column("error_message", String(512)),
    Column("hold", BigInteger, nullable=False, default=0),  # nanos held at submit
    Column("cost", BigInteger, nullable=False, default=0),  # nanos charged at the end
    Column("units", JSON),  # what the price was applied to: {"unit": "second", "count": 8, "variant": "720p"}
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("finished_at", BigInteger),
    Column("expires_at", BigInteger, nullable=False),  # expired and released after this when not finished
    Column("next_poll_at", BigInteger),
    Column("poll_failures", Integer, nullable=False, default=0),
    # a task taken over from New API at `migrate import`: the id its client holds, and the old system's
    # pre-charge (nanos), already out of the imported balance (docs/billing.md, "Taken-over tasks")
    Column("source_id", String(191)),
    Column("prepaid", BigInteger, nullable=False, default=0, server_default="0"),
    Index("ix_media_tasks_owner", "owner_id", "created_at"),
    Index("ix_media_tasks_source", "source_id"),
    Index("ix_media_tasks_state_poll", "state", "next_poll_at"),
)

media_key_callbacks = Table(  # the callback URL an operator set for a key (a submit's own callback_url wins)
    "media_key_callbacks", metadata,
    Column("key_id", String(32), primary_key=True),
    Column("callback_url", String(1024), nullable=False),
    Column("updated_by", String(128)),
    Column("updated_at", BigInteger, nullable=False),
)

media_deliveries = Table(
    "media_deliveries", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("task_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("url_host", String(255)),
    Column("status", Integer),  # the receiver's HTTP status (null: no answer)
    Column("error", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_media_deliveries_task", "task_id"),
)

media_legacy_tasks = Table(  # video tasks the old entry created during a rollout (its answers relayed through here)
    "media_legacy_tasks", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("old_id", String(191), primary_key=True),  # the id the old side gave the client
    Column("key_id", String(32), nullable=False),
    Column("surface", String(16), nullable=False),  # openai | kling
    Column("model", String(128)),
    Column("request_id", String(40), nullable=False),  # the forwarded submit (its usage record, route=legacy)
    Column("created_at", BigInteger, nullable=False),
    Column("answer", JSON),  # the old side's submit answer, shown until the old entry reports a newer state
    Index("ix_media_legacy_tasks_owner", "owner_id", "created_at"),
)

# --- the console (web/console) and the key-holder portal: who signs in, their sessions, what they did ---

operators = Table(  # people who operate relaygate: admin | support | viewer
    "operators", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),  # scrypt$…, or a bcrypt hash imported as it was
    Column("role", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("source", String(16), nullable=False, default="native"),  # native | oneapi | newapi
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger),
    Column("last_login_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

web_sessions = Table(  # browser sessions; the cookie holds the id, the table its hash
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("subject_kind", String(16), nullable=False),  # operator | token | (portal) user
    Column("subject_id", String(64), nullable=False),
    Column("subject_name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(255)),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
    Index("ix_web_sessions_subject", "subject_kind", "subject_id"),
)

audit_log = Table(  # append-only: every operator action from the console, the CLI and the API
    "audit_log", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("ts", BigInteger, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("source", String(16), nullable=False),  # console | cli | api
    Column("action", String(64), nullable=False),
    Column("target", String(255)),
    Column("before", JSON),
    Column("after", JSON),
    Column("ip", String(64)),
    Column("outcome", String(16), nullable=False, default="ok"),  # ok | refused | failed
    Index("ix_audit_ts", "ts"),
    Index("ix_audit_actor_ts", "actor", "ts"),
    Index("ix_audit_action_ts", "action", "ts"),
)

# charts and top lists read these, never usage_records; kept current off the request path (services/operate/rollups)
usage_rollup = Table(  # per hour ('h') and per UTC day ('d'): each error class's sums and latency histograms
    "usage_rollup", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("span", String(1), nullable=False),  # h | d
    Column("start", BigInteger, nullable=False),  # epoch ms of the hour's or the day's start (UTC)
    Column("klass", String(16), nullable=False),  # ok 401 402 403 404 429 timeout 5xx 4xx
    Column("requests", BigInteger, nullable=False, default=0),
    Column("prompt_tokens", BigInteger, nullable=False, default=0),
    Column("completion_tokens", BigInteger, nullable=False, default=0),
    Column("cost", BigInteger, nullable=False, default=0),
    Column("latency_hist", JSON, nullable=False),  # counts per bucket of LATENCY_BUCKETS_MS
    Column("ttft_hist", JSON, nullable=False),
    Index("ix_usage_rollup_span_start", "span", "start"),
)

usage_rollup_dims = Table(  # per hour and per day: each model's, owner's, key's and client's sums (top lists)
    "usage_rollup_dims", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("span", String(1), nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("dim", String(8), nullable=False),  # model | owner | key | client
    Column("value", String(128), nullable=False),
    Column("requests", BigInteger, nullable=False, default=0),
    Column("errors", BigInteger, nullable=False, default=0),
    Column("tokens", BigInteger, nullable=False, default=0),
    Column("cost", BigInteger, nullable=False, default=0),
    Index("ix_usage_rollup_dims_span_start", "span", "start"),
    Index("ix_usage_rollup_dims_value", "dim", "value", "span", "start"),
    Index("ix_usage_rollup_dims_range", "dim", "span", "start"),
)


portal_users = Table(  # key holders who sign in to the portal: each belongs to one owner and sees only its data
    "portal_users", metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), nullable=False),
    Column("username", String(128), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),  # scrypt$…, or One API / New API's bcrypt as it was
    Column("email", String(255)),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("source", String(16), nullable=False, default="native"),  # native | oneapi | newapi
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger),
    Column("last_login_at", BigInteger),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("email_verified_at", BigInteger),
    Column("verify_pending", Boolean, nullable=False, default=False),  # signed up; may sign in once verified
    Column("oidc_subject", String(64)),  # hash of (issuer, sub) of the OpenID Connect identity linked
    Index("ix_portal_users_owner", "owner_id"),
    Index("ix_portal_users_oidc", "oidc_subject", unique=True),
    Index("ix_portal_users_email", "email"),
)

portal_tokens = Table(  # invites, password resets and e-mail verifications: only the token's hash is kept
    "portal_tokens", metadata,
    Column("id", String(32), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("purpose", String(16), nullable=False),  # invite | reset | verify
    Column("user_id", String(32)),  # reset, verify: whose
    Column("owner_id", String(32)),  # invite: the owner the account joins (null: a new owner per account)
    Column("username", String(128)),  # invite: the username it is for (null: the person picks)
    Column("email", String(255)),
    Column("uses_left", Integer, nullable=False),
    Column("max_uses", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
    Column("revoked_at", BigInteger),
    Column("note", String(255)),
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_portal_tokens_purpose_user", "purpose", "user_id"),
)

owner_portal = Table(  # what an owner's key holders may do themselves (self-service keys and their bounds)
    "owner_portal", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("self_keys", Boolean, nullable=False, default=False),
    Column("max_keys", Integer),  # enabled keys the owner may hold at once (null: no bound)
    Column("group_name", String(64)),  # group of keys they create (null: default)
    Column("models", JSON),  # models their keys may be limited to (null: what the group allows)
    Column("max_cap_total", BigInteger),  # the most a self-made key's cap may be (nanos); null: no bound
    Column("max_cap_daily", BigInteger),
    Column("max_cap_monthly", BigInteger),
    Column("max_rpm", BigInteger),
    Column("max_tpm", BigInteger),
    Column("max_concurrency", BigInteger),
    Column("max_days", Integer),  # longest life of a self-made key
    Column("keys_created", Integer, nullable=False, default=0),
    Column("updated_by", String(128)),
    Column("updated_at", BigInteger, nullable=False),
)

balance_notices = Table(  # a key holder's low-balance notice: once per crossing, off the request path
    "balance_notices", metadata,
    Column("owner_id", String(32), primary_key=True),
    Column("threshold", BigInteger, nullable=False),  # nanos
    Column("email", String(255)),
    Column("webhook_url", String(1024)),
    Column("lang", String(8), nullable=False, default="en"),
    Column("state", String(8), nullable=False, default="armed"),  # armed | due | sent
    Column("pending", JSON),  # channels still to deliver while due: ["email", "webhook"]
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", BigInteger),
    Column("crossed_at", BigInteger),
    Column("balance", WideInt),  # the balance seen at the crossing
    Column("last_sent_at", BigInteger),
    Column("last_error", String(255)),
    Column("updated_by", String(128)),
    Column("updated_at", BigInteger, nullable=False),
)

# what the console shows of a move off One API / New API: inventories, the reviewed plan (its mapping table
# with verification results) and import reports, as `migrate inspect/import/verify` produced them; appended
DocText = Text().with_variant(mysql.LONGTEXT(), "mysql")
migration_documents = Table(
    "migration_documents", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # inventory | plan | import
    Column("source", String(255)),  # the old system's name (kind and database), never its password
    Column("body", DocText, nullable=False),  # JSON
    Column("created_by", String(128), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_migration_documents_kind", "kind", "id"),
)
