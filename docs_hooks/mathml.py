"""MkDocs hook: render the pages' LaTeX math as MathML at build time (no JavaScript, no CDN).

``pymdownx.arithmatex`` (``generic: true``) wraps ``$...$`` in
``<span class="arithmatex">\\(...\\)</span>`` and ``$$...$$`` in
``<div class="arithmatex">\\[...\\]</div>``; this hook swaps the TeX in each for the
MathML that latex2mathml makes of it, which browsers render natively (docs/css/math.css
spaces the display equations). It also turns the docstrings' Sphinx roles
(``:class:`~rirn_layers.X```) into plain code.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<block>.*?)\\\])'
    r"\s*</(?P=tag)>",
    flags=re.S,
)
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):(<code>)(?:~[\w.]*\.)?")


def _mathml(match: re.Match[str]) -> str:
    block = match["block"] is not None
    latex = html.unescape(match["block"] if block else match["inline"]).strip()
    mathml = convert(latex, display="block" if block else "inline")
    return f'<{match["tag"]} class="arithmatex">{mathml}</{match["tag"]}>'


def on_page_content(html_text: str, **_: Any) -> str:
    """Replace arithmatex's output and Sphinx roles in a page's HTML."""
    return _ROLE.sub(r"\1", _MATH.sub(_mathml, html_text))
