"""A small Markdown to HTML converter for the notices: headings, paragraphs, lists, tables, code, quotes.

It covers exactly what the notice templates use (and what operators' overrides are likely to use):
ATX headings, paragraphs, nested ``-``/``*``/``1.`` lists and ``- [ ]`` task items, pipe tables,
fenced code, ``>`` quotes, ``---`` rules, and inline code, bold, italics and links. Text is
escaped first, so nothing in a model name or a base URL can inject markup.
"""

from __future__ import annotations

import html
import re

_INLINE_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_URL = re.compile(r"(?<![\"'=>])\b(https?://[^\s<]+[^\s<.,;:!?)。，；：！？）])")
_ANCHOR = re.compile(r"(<a [^>]*>.*?</a>)")
_LIST = re.compile(r"^(\s*)([-*]|\d+\.)\s+(.*)$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
_SAFE_LINK = re.compile(r"^(https?://|mailto:|#|(?!//)[\w./-]+(#[\w-]*)?$)")  # no javascript:, no //host


def inline(text: str) -> str:
    """Escape, then apply inline code, links, bold and italics (code spans are left alone)."""
    parts = _INLINE_CODE.split(text)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part, quote=False)}</code>")
            continue
        chunk = html.escape(part, quote=False)
        chunk = _LINK.sub(_link, chunk)
        pieces = _ANCHOR.split(chunk)  # autolink bare URLs outside the links made above
        chunk = "".join(p if j % 2 else _URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', p)
                        for j, p in enumerate(pieces))
        chunk = _BOLD.sub(r"<strong>\1</strong>", chunk)
        chunk = _ITALIC.sub(r"<em>\1</em>", chunk)
        out.append(chunk)
    return "".join(out)


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), html.unescape(match.group(2))
    if not _SAFE_LINK.match(url):
        return match.group(0)
    return f'<a href="{html.escape(url)}">{label}</a>'


def _cells(row: str) -> list[str]:
    """Split a table row on '|' outside code spans ('\\|' is a literal bar)."""
    row = row.strip().removeprefix("|")
    row = row[:-1] if row.endswith("|") and not row.endswith("\\|") else row
    cells: list[str] = []
    current: list[str] = []
    in_code, prev = False, ""
    for ch in row:
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code and prev != "\\":
            cells.append("".join(current).strip())
            current = []
        else:
            if ch == "|" and prev == "\\":
                current.pop()
            current.append(ch)
        prev = ch
    cells.append("".join(current).strip())
    return cells


def _list_item(text: str) -> str:
    if text.startswith("[ ] ") or text.startswith("[x] ") or text.startswith("[X] "):
        checked = " checked" if text[1] in "xX" else ""
        return f'<input type="checkbox" disabled{checked}> {inline(text[4:])}'
    return inline(text)


def _render_list(lines: list[str]) -> str:
    """Nested lists from indentation; a line that is not an item continues the item before it."""
    items: list[tuple[int, str, str]] = []
    for line in lines:
        match = _LIST.match(line)
        if match:
            tag = "ol" if match.group(2)[0].isdigit() else "ul"
            items.append((len(match.group(1)), tag, match.group(3)))
        elif items:
            indent, tag, text = items[-1]
            items[-1] = (indent, tag, text + " " + line.strip())
    out = []
    i = 0
    while i < len(items):
        chunk, i = _nest(items, i)
        out.append(chunk)
    return "\n".join(out)


def _nest(items: list[tuple[int, str, str]], i: int) -> tuple[str, int]:
    indent, tag, _ = items[i]
    out = [f"<{tag}>"]
    while i < len(items) and items[i][0] == indent:
        text = _list_item(items[i][2])
        i += 1
        children = ""
        while i < len(items) and items[i][0] > indent:
            child, i = _nest(items, i)
            children += child
        out.append(f"<li>{text}{children}</li>")
    out.append(f"</{tag}>")
    return "".join(out), i


def to_html(markdown: str) -> str:
    lines = markdown.replace("\r\n", "\n").split("\n")
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif stripped.startswith("```"):
            lang = stripped[3:].strip()
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            i += 1
            cls = f' class="language-{html.escape(lang)}"' if lang else ""
            blocks.append(f"<pre><code{cls}>{html.escape(chr(10).join(body), quote=False)}</code></pre>")
        elif (heading := _HEADING.match(stripped)) is not None:
            level = len(heading.group(1))
            blocks.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
            i += 1
        elif re.fullmatch(r"-{3,}|\*{3,}", stripped):
            blocks.append("<hr>")
            i += 1
        elif stripped.startswith("|") and i + 1 < len(lines) and re.fullmatch(r"\|?[\s:|-]+\|?", lines[i + 1].strip()):
            head = _cells(stripped)
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            thead = "".join(f"<th>{inline(c)}</th>" for c in head)
            tbody = "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows)
            blocks.append(f"<table><thead><tr>{thead}</tr></thead><tbody>{tbody}</tbody></table>")
        elif stripped.startswith(">"):
            quoted = []
            while i < len(lines) and lines[i].strip().startswith(">"):
                quoted.append(lines[i].strip()[1:].removeprefix(" "))
                i += 1
            blocks.append(f"<blockquote>{to_html(chr(10).join(quoted))}</blockquote>")
        elif _LIST.match(line):
            items = []
            while i < len(lines) and lines[i].strip() and (_LIST.match(lines[i]) or lines[i].startswith("  ")):
                items.append(lines[i])
                i += 1
            blocks.append(_render_list(items))
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not _starts_block(lines[i]):
                para.append(lines[i].strip())
                i += 1
            blocks.append(f"<p>{inline(' '.join(para))}</p>")
    return "\n".join(blocks)


def _starts_block(line: str) -> bool:
    s = line.strip()
    return bool(s.startswith(("#", "```", "|", ">")) or _LIST.match(line) or re.fullmatch(r"-{3,}", s))
