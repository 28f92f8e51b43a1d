"""The notices' Markdown converter: structure, escaping, links that cannot run script."""

from __future__ import annotations

from relaygate.services.notices.markdown import to_html


def test_blocks() -> None:
    html = to_html("# Title\n\npara one\nstill one\n\n- a\n- b\n  - b1\n- [x] done\n- [ ] todo\n\n1. one\n2. two\n\n"
                   "> quoted **bold**\n\n---\n\n```toml\nx = 1\n```\n")
    assert "<h1>Title</h1>" in html and "<p>para one still one</p>" in html
    assert "<ul><li>a</li><li>b<ul><li>b1</li></ul></li>" in html
    assert '<input type="checkbox" disabled checked> done' in html and '<input type="checkbox" disabled> todo' in html
    assert "<ol><li>one</li><li>two</li></ol>" in html
    assert "<blockquote><p>quoted <strong>bold</strong></p></blockquote>" in html and "<hr>" in html
    assert '<pre><code class="language-toml">x = 1</code></pre>' in html


def test_tables_keep_bars_inside_code() -> None:
    html = to_html("| a | b |\n|---|---|\n| `x|y` | 2 \\| 3 |\n")
    assert "<th>a</th><th>b</th>" in html and "<td><code>x|y</code></td><td>2 | 3</td>" in html


def test_escaping_and_links() -> None:
    html = to_html("<script>alert(1)</script> `<b>` [ok](emails/cursor.md) [bad](javascript:alert(1)) "
                   "[proto](//evil.example) https://ai.example.com/v1.\n")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<code>&lt;b&gt;</code>" in html
    assert '<a href="emails/cursor.md">ok</a>' in html
    assert 'href="javascript' not in html and 'href="//evil' not in html
    assert '<a href="https://ai.example.com/v1">https://ai.example.com/v1</a>.' in html
