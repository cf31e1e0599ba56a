"""What changed between two outputs, word by word, as HTML: words removed in <del>, words
added in <ins>, everything escaped (the texts are a model's and a reviewer's, not ours)."""

from __future__ import annotations

import difflib
import re

from markupsafe import Markup, escape

# Words and the whitespace after them, so that the text reads as it was written.
TOKEN = re.compile(r"\S+\s*|\s+")


def word_diff(old: str, new: str) -> Markup:
    before, after = TOKEN.findall(old), TOKEN.findall(new)
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    parts: list[str] = []
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(str(escape("".join(before[a1:a2]))))
            continue
        if a2 > a1:
            parts.append(f"<del>{escape(''.join(before[a1:a2]))}</del>")
        if b2 > b1:
            parts.append(f"<ins>{escape(''.join(after[b1:b2]))}</ins>")
    return Markup("".join(parts))
