"""Read a tool's description and per-argument help from its docstring.

A model picks tools by their descriptions, so the docstring the author already wrote is the single source;
copying it into a separate schema would drift. Google (`Args:`), reST (`:param x:`) and numpy
(`Parameters` + dashes) styles are understood, because all three are common in code people bring.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Raises|Yields?|Examples?|Notes?|Attributes)\s*:?\s*$",
                      re.IGNORECASE)
_GOOGLE_ARG = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<desc>.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[\w\[\], .|]+\s+)?(?P<name>\w+)\s*:\s*(?P<desc>.*)$")
_NUMPY_ARG = re.compile(r"^(?P<name>\w+)\s*(:\s*.*)?$")


@dataclass(slots=True)
class Docstring:
    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Summary (text before the first section) and a description per parameter name."""
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    out = Docstring()
    summary: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if _REST_PARAM.match(stripped) or stripped.startswith((":return", ":raises", ":rtype", ":type")):
            break
        if _SECTION.match(stripped):
            break
        summary.append(stripped)
        i += 1
    out.summary = " ".join(" ".join(summary).split())
    _parse_sections(lines[i:], out)
    return out


def _parse_sections(lines: list[str], out: Docstring) -> None:
    current: str | None = None
    section: str | None = None
    base_indent = 0
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip())
        rest = _REST_PARAM.match(stripped)
        if rest:
            current, section = rest["name"], "rest"
            out.params[current] = rest["desc"].strip()
            i += 1
            continue
        head = _SECTION.match(stripped)
        if head:
            name = head.group(1).lower()
            section = "args" if name in ("args", "arguments", "parameters", "params") else "other"
            current = None
            # numpy style underlines the section name with dashes
            if i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
                section = "numpy" if section == "args" else "other"
                i += 1
            base_indent = None  # type: ignore[assignment]
            i += 1
            continue
        if not stripped:
            i += 1
            continue
        if section == "args":
            if base_indent is None:
                base_indent = indent
            match = _GOOGLE_ARG.match(stripped)
            if indent <= base_indent and match:
                current = match["name"]
                out.params[current] = match["desc"].strip()
            elif current is not None:
                out.params[current] = (out.params[current] + " " + stripped).strip()
        elif section == "numpy":
            if base_indent is None:
                base_indent = indent
            match = _NUMPY_ARG.match(stripped)
            if indent <= base_indent and match:
                current = match["name"]
                out.params[current] = ""
            elif current is not None:
                out.params[current] = (out.params[current] + " " + stripped).strip()
        elif section == "rest" and current is not None and indent > 0:
            out.params[current] = (out.params[current] + " " + stripped).strip()
        i += 1
