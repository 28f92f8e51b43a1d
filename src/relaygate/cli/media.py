"""`relaygate media`: per-unit media prices, a task's support view, keys' callback signing secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from relaygate.cli.common import console, emit, run_with_engine, settings_from
from relaygate.cli.helpers import json_option, show

if TYPE_CHECKING:  # the services (and SQLAlchemy) load when a command runs, not for --help
    from relaygate.services.operate.media import MediaPricing

UNITS = ("image", "second", "mchars", "mtokens", "call")  # services/operate/media.py's UNITS (a test keeps them equal)

media_app = typer.Typer(help="Images, audio and video tasks: per-unit prices, tasks, callback secrets.",
                        no_args_is_help=True)
prices_app = typer.Typer(help="Media prices: per image, per second, per 1M characters, per 1M output tokens, "
                              "or per call.",
                         no_args_is_help=True)
media_app.add_typer(prices_app, name="prices")

MESSAGES: dict[str, tuple[str, str]] = {
    "none": ("No media prices yet: `relaygate media prices set MODEL --unit image --amount 0.04`",
             "尚无媒体价格：`relaygate media prices set 模型 --unit image --amount 0.04`"),
    "deleted": ("Deleted {n} media price(s) of {model}.", "已删除 {model} 的 {n} 条媒体价格。"),
    "no_task": ("No task {task_id}.", "找不到任务 {task_id}。"),
    "callback_set": ("Video tasks of key {key_id} without their own callback_url report to {url}.",
                     "密钥 {key_id} 的视频任务（未自带 callback_url 时）将回调 {url}。"),
    "callback_none": ("Key {key_id} has no callback URL.", "密钥 {key_id} 没有设置回调地址。"),
    "secret": ("Callback signing secret of key {key_id}: {secret}\nVerify X-Relaygate-Signature as docs/media.md "
               "shows; it changes when RELAYGATE_MEDIA_CALLBACK_SECRET (or data/callback-secret) changes.",
               "密钥 {key_id} 的回调签名密钥：{secret}\n请按 docs/media.md 校验 X-Relaygate-Signature；"
               "RELAYGATE_MEDIA_CALLBACK_SECRET（或 data/callback-secret）变化时它也会变化。"),
}


def say(key: str, **params: Any) -> str:
    en, zh = MESSAGES[key]
    return (zh if settings_from().lang_code() == "zh-CN" else en).format(**params)


def _pricing(engine: Any) -> MediaPricing:
    from relaygate.services.operate.media import MediaPricing

    return MediaPricing(engine, settings_from().currency)


@prices_app.command("set")
def prices_set(model: str = typer.Argument(..., help="Public model name."),
               unit: str = typer.Option(..., "--unit", help=f"One of: {', '.join(UNITS)}."),
               amount: str = typer.Option(..., "--amount", help="Price per unit (per 1M characters for mchars, per 1M "
                                                          "output tokens for mtokens)."),
               variant: str = typer.Option("*", "--variant",
                                           help="Images: SIZE/QUALITY or SIZE; seconds: a size or resolution; "
                                                "* for every other."),
               as_json: bool = json_option()) -> None:
    """Set a media price (replaces the same model, unit and variant)."""
    show(run_with_engine(lambda e: _pricing(e).set_price(model, unit, amount, variant)), as_json)


@prices_app.command("list")
def prices_list(as_json: bool = json_option()) -> None:
    """List media prices."""
    rows = run_with_engine(lambda e: _pricing(e).list_prices())
    if not rows and not as_json:
        console.print(say("none"), style="yellow", markup=False)
        return
    summary = "summary_zh" if settings_from().lang_code() == "zh-CN" else "summary"
    emit(rows, ("model", "unit", "variant", "amount", summary), as_json)


@prices_app.command("delete")
def prices_delete(model: str = typer.Argument(..., help="Public model name."),
                  unit: str = typer.Option(None, "--unit", help="Only this unit."),
                  variant: str = typer.Option(None, "--variant", help="Only this variant.")) -> None:
    """Delete media prices of a model."""
    n = run_with_engine(lambda e: _pricing(e).delete_price(model, unit, variant))
    console.print(say("deleted", n=n, model=model), style="green", markup=False)


@media_app.command("task")
def task(task_id: str = typer.Argument(..., help="A task id (task_…)."), as_json: bool = json_option()) -> None:
    """Everything support needs about a task: state, money, upstream, callback deliveries."""
    view = run_with_engine(lambda e: _pricing(e).task(task_id))
    if view is None:
        console.print(say("no_task", task_id=task_id), style="red", markup=False)
        raise typer.Exit(1)
    show(view, as_json)


@media_app.command("callback-secret")
def callback_secret(key: str = typer.Argument(..., help="Key id (key_…) or name.")) -> None:
    """The secret a key's callback receiver verifies signatures with."""
    from relaygate.services.operate.accounts import AccountsAdmin

    settings = settings_from()

    async def go(engine: Any) -> str:
        async with engine.connect() as conn:
            row = await AccountsAdmin(engine).resolve_key(conn, key)
        return str(row.id)

    key_id = run_with_engine(go)
    from relaygate.services.media.callbacks import key_secret, load_secret

    secret = key_secret(load_secret(settings.media_callback_secret, settings.data_path), key_id)
    console.print(say("secret", key_id=key_id, secret=secret), markup=False, soft_wrap=True)


@media_app.command("callback-url")
def callback_url(key: str = typer.Argument(..., help="Key id (key_…) or name."),
                 url: str = typer.Argument(None, help="The URL to set (omit to show the current one)."),
                 clear: bool = typer.Option(False, "--clear", help="Remove the key's callback URL."),
                 as_json: bool = json_option()) -> None:
    """The callback URL of a key's video tasks (a submit's own callback_url wins)."""
    settings = settings_from()

    async def go(engine: Any) -> dict[str, Any]:
        import getpass

        from relaygate.services.operate.media import KeyCallbacks

        hooks = KeyCallbacks(engine, settings.media_allow_hosts)
        if clear:
            return await hooks.clear(key)
        if url:
            return await hooks.set(key, url, f"cli:{getpass.getuser()}")
        return await hooks.get(key)

    view = run_with_engine(go)
    if as_json:
        show(view, True)
        return
    if view["callback_url"]:
        console.print(say("callback_set", key_id=view["key_id"], url=view["callback_url"]), markup=False)
    else:
        console.print(say("callback_none", key_id=view["key_id"]), markup=False)
