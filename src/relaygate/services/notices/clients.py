"""How each client names its settings and which form of the base URL it expects (root or /v1)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

MASKED_PLACEHOLDER = "sk-abcd…wxyz"


@dataclass(frozen=True, slots=True)
class BaseForms:
    """The two forms of this deployment's base URL: the root, and the root plus /v1."""

    root: str
    v1: str

    @property
    def host(self) -> str:
        return urlsplit(self.root).netloc

    @classmethod
    def from_setting(cls, public_base_url: str, host: str = "", scheme: str = "http") -> BaseForms:
        """From Settings.public_base_url (with or without a trailing /v1), else from the request's Host."""
        url = public_base_url.strip().rstrip("/")
        if not url:
            url = f"{scheme}://{host or '127.0.0.1:8790'}"
        root = url[:-3] if url.endswith("/v1") else url
        return cls(root, root + "/v1")


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """One client: its name, the dialect it speaks, its base-URL field and the form it wants there."""

    id: str
    name: str
    detected_as: tuple[str, ...]  # names services/gateway/clients.py gives this client
    dialect: str  # openai | anthropic | responses | gemini
    base_form: str  # "v1": the base URL ends with /v1; "root": the client adds /v1 itself
    base_field: tuple[str, str]  # (en, zh) how the client labels the base URL
    key_field: tuple[str, str]
    email: bool = True  # gets a configuration email from `relaygate notices render`
    name_zh: str = ""  # the name in Chinese when the English one is a description rather than a product name

    def label(self, lang: str) -> str:
        return self.name_zh if self.name_zh and lang.startswith("zh") else self.name

    def base_url(self, forms: BaseForms) -> str:
        return forms.v1 if self.base_form == "v1" else forms.root

    def base_label(self, lang: str) -> str:
        return self.base_field[1] if lang.startswith("zh") else self.base_field[0]

    def key_label(self, lang: str) -> str:
        return self.key_field[1] if lang.startswith("zh") else self.key_field[0]


CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec("cursor", "Cursor", ("cursor",), "openai", "v1",
               ("Override OpenAI Base URL", "Override OpenAI Base URL（覆盖 OpenAI Base URL）"),
               ("OpenAI API Key", "OpenAI API Key")),
    ClientSpec("cherry-studio", "Cherry Studio", ("cherry-studio",), "openai", "root",
               ("API Host", "API 地址"), ("API Key", "API 密钥")),
    ClientSpec("lobechat", "LobeChat", ("lobechat",), "openai", "v1",
               ("API Proxy Address", "API 代理地址"), ("API Key", "API Key")),
    ClientSpec("chatbox", "Chatbox", ("chatbox",), "openai", "root",
               ("API Host", "API 域名（API Host）"), ("API Key", "API 密钥（API Key）")),
    ClientSpec("claude-code", "Claude Code", ("claude-code",), "anthropic", "root",
               ("ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"), ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_AUTH_TOKEN")),
    ClientSpec("codex-cli", "Codex CLI", ("codex-cli",), "responses", "v1",
               ("base_url in ~/.codex/config.toml", "~/.codex/config.toml 中的 base_url"),
               ("env_key (an environment variable)", "env_key 指定的环境变量")),
    ClientSpec("python-sdk", "OpenAI Python SDK", ("openai-python",), "openai", "v1",
               ("base_url (or OPENAI_BASE_URL)", "base_url（或环境变量 OPENAI_BASE_URL）"),
               ("api_key (or OPENAI_API_KEY)", "api_key（或环境变量 OPENAI_API_KEY）")),
    ClientSpec("node-sdk", "OpenAI Node.js SDK", ("openai-node",), "openai", "v1",
               ("baseURL (or OPENAI_BASE_URL)", "baseURL（或环境变量 OPENAI_BASE_URL）"),
               ("apiKey (or OPENAI_API_KEY)", "apiKey（或环境变量 OPENAI_API_KEY）")),
    # image, audio and video clients: the same SDK on the media endpoints, and New API's Kling task routes
    ClientSpec("openai-media", "OpenAI SDK: images, audio and video", (), "openai", "v1",
               ("base_url (or OPENAI_BASE_URL)", "base_url（或环境变量 OPENAI_BASE_URL）"),
               ("api_key (or OPENAI_API_KEY)", "api_key（或环境变量 OPENAI_API_KEY）"),
               name_zh="OpenAI SDK：图片、音频与视频"),
    ClientSpec("kling-http", "Kling video task scripts (curl / HTTP)", (), "kling", "root",
               ("base URL (the scripts add /kling/v1/videos/…)", "Base URL（脚本自己拼接 /kling/v1/videos/…）"),
               ("Authorization: Bearer header", "Authorization: Bearer 请求头"),
               name_zh="Kling 视频任务脚本（curl / HTTP）"),
    # clients without an email, known so that a hint can name their setting
    ClientSpec("anthropic-sdk", "Anthropic SDK", ("anthropic-python", "anthropic-node"), "anthropic", "root",
               ("base_url / baseURL (or ANTHROPIC_BASE_URL)", "base_url / baseURL（或 ANTHROPIC_BASE_URL）"),
               ("api_key / apiKey", "api_key / apiKey"), email=False),
    ClientSpec("gemini-cli", "Gemini CLI", ("gemini-cli",), "gemini", "root",
               ("GOOGLE_GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"), ("GEMINI_API_KEY", "GEMINI_API_KEY"),
               email=False),
    ClientSpec("qwen-code", "Qwen Code", ("qwen-code",), "openai", "v1",
               ("OPENAI_BASE_URL", "OPENAI_BASE_URL"), ("OPENAI_API_KEY", "OPENAI_API_KEY"), email=False),
    ClientSpec("opencode", "opencode", ("opencode",), "openai", "v1",
               ("provider options.baseURL in opencode.json", "opencode.json 中 provider 的 options.baseURL"),
               ("options.apiKey", "options.apiKey"), email=False),
)

EMAIL_CLIENTS: tuple[ClientSpec, ...] = tuple(c for c in CLIENTS if c.email)
_BY_DETECTED = {name: spec for spec in CLIENTS for name in spec.detected_as}
_BY_ID = {spec.id: spec for spec in CLIENTS}


def spec_for_detected(client: str | None) -> ClientSpec | None:
    """The spec of a client as services/gateway/clients.py names it ('openai-python' → the Python SDK)."""
    return _BY_DETECTED.get(client or "")


def spec(client_id: str) -> ClientSpec:
    return _BY_ID[client_id]
