"""Read a tool's description and per-argument help from its docstring.

A model picks tools by their descriptions, so the docstring the author already wrote is the single source;
copying it into a separate schema would drift. Google (`Args:`), reST (`:param x:`) and numpy
(`Parameters` + dashes) styles are understood, because all three are common in code people bring; the
parsing is `docstring_parser`'s, which knows all three.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import docstring_parser


@dataclass(slots=True)
class Docstring:
    """What a tool's docstring says: the summary (its description) and each argument's description."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Summary (the text before the first section, as one line) and a description per parameter name."""
    if not doc:
        return Docstring()
    parsed = docstring_parser.parse(doc)
    summary = " ".join(filter(None, (parsed.short_description, parsed.long_description)))
    return Docstring(summary=" ".join(summary.split()),
                     params={p.arg_name: " ".join((p.description or "").split()) for p in parsed.params})
