"""A ready configuration for a chosen client: where the base URL and the key go, in that client's words.

Shown once with a new key's secret in the console (and, later, the portal's "set up my client").
"""

from __future__ import annotations

from relaygate.services.notices.clients import CLIENTS, BaseForms, ClientSpec


def client_choices(lang: str = "en") -> list[tuple[str, str]]:
    return [(c.id, c.label(lang)) for c in CLIENTS]


def snippet(client_id: str, forms: BaseForms, secret: str, lang: str, model: str = "gpt-4o-mini",
            media: dict[str, str] | None = None) -> str:
    """The configuration for one client; ``media`` names an image, video and Kling model for the media clients."""
    media = media or {}
    spec: ClientSpec = next((c for c in CLIENTS if c.id == client_id), CLIENTS[0])
    base = spec.base_url(forms)
    if spec.id == "python-sdk":
        return (f'from openai import OpenAI\nclient = OpenAI(base_url="{base}", api_key="{secret}")\n'
                f'print(client.chat.completions.create(model="{model}", '
                f'messages=[{{"role": "user", "content": "hello"}}]).choices[0].message.content)')
    if spec.id == "node-sdk":
        return ('import OpenAI from "openai";\n'
                f'const client = new OpenAI({{ baseURL: "{base}", apiKey: "{secret}" }});')
    if spec.id == "claude-code":
        return f"export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_AUTH_TOKEN={secret}\nclaude"
    if spec.id == "codex-cli":
        return ('# ~/.codex/config.toml\nmodel_provider = "relaygate"\n[model_providers.relaygate]\n'
                f'name = "relaygate"\nbase_url = "{base}"\nenv_key = "RELAYGATE_API_KEY"\nwire_api = "responses"\n\n'
                f"export RELAYGATE_API_KEY={secret}")
    if spec.id == "openai-media":
        return (f'from openai import OpenAI\nclient = OpenAI(base_url="{base}", api_key="{secret}")\n'
                f'image = client.images.generate(model="{media.get("image", "IMAGE_MODEL")}", prompt="a lighthouse")\n'
                f'video = client.videos.create(model="{media.get("video", "VIDEO_MODEL")}", prompt="waves at dusk")\n'
                "video = client.videos.retrieve(video.id)  # until video.status is completed (or failed: not charged)\n"
                'client.videos.download_content(video.id).write_to_file("waves.mp4")')
    if spec.id == "kling-http":
        kling = media.get("kling", "KLING_MODEL")
        return (f'curl -s {base}/kling/v1/videos/text2video -H "Authorization: Bearer {secret}" '
                f'-H "Content-Type: application/json" \\\n  -d \'{{"model_name": "{kling}", '
                '"prompt": "waves at dusk"}\'\n'
                f'curl -s {base}/kling/v1/videos/text2video/TASK_ID -H "Authorization: Bearer {secret}"')
    if spec.id == "gemini-cli":
        return f"export GOOGLE_GEMINI_BASE_URL={base}\nexport GEMINI_API_KEY={secret}\ngemini"
    return f"{spec.base_label(lang)}: {base}\n{spec.key_label(lang)}: {secret}"
