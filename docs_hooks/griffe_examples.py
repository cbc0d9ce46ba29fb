"""Griffe extension: read the docstrings' ``Example:`` sections as Google ``Examples:``.

Griffe's Google parser knows ``Examples:`` (doctest lines become ``pycon`` code blocks) but
takes the singular ``Example:`` for an admonition whose ``>>>`` lines Markdown would render
as nested block quotes. The docstrings keep their (Napoleon-style) spelling.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", flags=re.M)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section titles to ``Examples:`` before the docstrings are parsed."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
