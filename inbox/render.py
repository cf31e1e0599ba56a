"""Task outputs shown in the inbox: markdown rendered without any HTML of its own (what a model
or a reviewer wrote as HTML is shown as text), links only to http(s), no images (they would be
fetched from elsewhere), and one-line excerpts for the list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup


class SafeMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:  # noqa: N802 - markdown-it's name
        return url.strip().lower().startswith(("http://", "https://"))


def _link_open(
    renderer: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return renderer.renderToken(tokens, idx, options, env)


def _markdown() -> MarkdownIt:
    md = SafeMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    md.add_render_rule("link_open", _link_open)
    return md


_MD = _markdown()


def markdown_html(text: str | None) -> Markup:
    # Safe to mark: markdown-it escapes every character of the source it does not turn into
    # its own tags, since raw HTML is off.
    return Markup(_MD.render(text or ""))
