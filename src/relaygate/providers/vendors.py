"""OpenAI-compatible vendors that differ only by URL: data rows, not code."""

from __future__ import annotations

# name -> (protocol, default base URL)
VENDORS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "https://api.openai.com/v1"),
    "openai-responses": ("openai-responses", "https://api.openai.com/v1"),
    "anthropic": ("anthropic", "https://api.anthropic.com/v1"),
    "gemini": ("gemini", "https://generativelanguage.googleapis.com/v1beta"),
    "deepseek": ("openai", "https://api.deepseek.com/v1"),
    "moonshot": ("openai", "https://api.moonshot.cn/v1"),
    "qwen": ("openai", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
    "zhipu": ("openai", "https://open.bigmodel.cn/api/paas/v4"),
    "siliconflow": ("openai", "https://api.siliconflow.cn/v1"),
    "openrouter": ("openai", "https://openrouter.ai/api/v1"),
    "groq": ("openai", "https://api.groq.com/openai/v1"),
    "mistral": ("openai", "https://api.mistral.ai/v1"),
    "xai": ("openai", "https://api.x.ai/v1"),
    "together": ("openai", "https://api.together.xyz/v1"),
    "ollama": ("openai", "http://127.0.0.1:11434/v1"),
    "vllm": ("openai", "http://127.0.0.1:8000/v1"),
}
