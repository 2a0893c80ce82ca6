"""The policy file: its schema, the shipped default, and how a team's file overrides it.

Rules are data so a team can tighten or relax them without touching code: the detectors in `_code.py` and
`_toolcalls.py` read every list, threshold and risk from here. The schema forbids unknown keys, so a typo
(`[rules.netwrok]`, `rsik = "high"`) is an error naming the key, not a rule silently left at its default.
"""

from __future__ import annotations

import json
import re
import tomllib
from fnmatch import fnmatchcase, translate
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nativa.errors import PolicyError
from nativa.review.findings import Risk

DEFAULT_POLICY = "rules.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _under(dotted: str, packages: frozenset[str]) -> bool:
    """True when `dotted` is one of `packages` or inside one (`os.path` is inside `os`)."""
    if dotted in packages:
        return True
    parts = dotted.split(".")
    return any(".".join(parts[:i]) in packages for i in range(1, len(parts)))


class RuleConfig(_Strict):
    """A rule: whether it is on, how risky its findings are, and the names that trigger it."""

    enabled: bool = True
    risk: Risk = "medium"
    modules: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()

    @cached_property
    def _module_set(self) -> frozenset[str]:
        return frozenset(self.modules)

    def claims_module(self, module: str) -> bool:
        """True when `module` (or a package above it) is one this rule flags on import."""
        return _under(module, self._module_set)

    @cached_property
    def _names_re(self) -> re.Pattern[str] | None:
        return re.compile("|".join(translate(p) for p in self.names)) if self.names else None

    def matches_name(self, dotted: str) -> bool:
        """True for a reference this rule flags: a listed name (`*` patterns) or anything under its modules."""
        if self.claims_module(dotted):
            return True
        return self._names_re is not None and self._names_re.match(dotted) is not None


class ImportRule(RuleConfig):
    """`import`: modules the code may import without a finding (`also_allow` extends the shipped list)."""

    allow: tuple[str, ...] = ()
    also_allow: tuple[str, ...] = ()

    @cached_property
    def _allowed(self) -> frozenset[str]:
        return frozenset((*self.allow, *self.also_allow))

    def allows(self, module: str) -> bool:
        """Whether importing `module` is fine: it is one of the allowed packages or inside one (`allow` plus
        the policy file's `also_allow`)."""
        return _under(module, self._allowed)


class NetworkRule(RuleConfig):
    """`network`: the risk given to a request whose host the allow-list permits."""

    allowed_host_risk: Risk = "low"


class ObfuscationRule(RuleConfig):
    """`obfuscated-import`: the decoder calls whose output, imported or executed, hides what code runs."""

    decoders: tuple[str, ...] = ()

    def is_decoder(self, dotted: str) -> bool:
        """Whether `dotted` names a decoder (base64.b64decode, codecs.decode, ...): decoded text fed to
        exec is how code hides what it runs."""
        return any(fnmatchcase(dotted, pattern) for pattern in self.decoders)


class SensitivePathRule(RuleConfig):
    """`sensitive-path`: paths (credentials, other processes, the kernel) whose mere mention is a finding."""

    prefixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()

    def matches_path(self, text: str) -> bool:
        """Whether `text` is a path the policy calls sensitive (one of its prefixes, or containing a marker)."""
        return any(text.startswith(p) for p in self.prefixes) or any(c in text for c in self.contains)


class FileWriteRule(RuleConfig):
    """`file-write`: where writes are low risk (`inside`), and which calls and methods write files."""

    unknown_target_risk: Risk = "medium"
    inside_risk: Risk = "low"
    inside: tuple[str, ...] = ("/work", "/tmp")
    methods: tuple[str, ...] = ()
    calls: dict[str, tuple[int, ...]] = Field(default_factory=dict)


class LoopRule(RuleConfig):
    """`unbounded-loop`: the iteration count past which a loop is a finding, and iterators that never end."""

    max_iterations: int = Field(100_000_000, ge=1)
    endless: tuple[str, ...] = ()


class AllocationRule(RuleConfig):
    """`large-allocation`: the memory and printed output past which one expression is a finding."""

    max_bytes: int = Field(268_435_456, ge=1)
    max_output_bytes: int = Field(1_000_000, ge=1)


class Rules(_Strict):
    """Every rule the policy knows, by the id its findings carry (`rule` in `nativa review check --json`)."""

    import_: ImportRule = Field(default_factory=ImportRule, alias="import")
    subprocess: RuleConfig = Field(default_factory=RuleConfig)
    network: NetworkRule = Field(default_factory=NetworkRule)
    eval_exec: RuleConfig = Field(default_factory=RuleConfig, alias="eval-exec")
    ctypes: RuleConfig = Field(default_factory=RuleConfig)
    deserialisation: RuleConfig = Field(default_factory=RuleConfig)
    process_control: RuleConfig = Field(default_factory=RuleConfig, alias="process-control")
    introspection: RuleConfig = Field(default_factory=RuleConfig)
    obfuscated_import: ObfuscationRule = Field(default_factory=ObfuscationRule, alias="obfuscated-import")
    environment: RuleConfig = Field(default_factory=RuleConfig)
    sensitive_path: SensitivePathRule = Field(default_factory=SensitivePathRule, alias="sensitive-path")
    file_write: FileWriteRule = Field(default_factory=FileWriteRule, alias="file-write")
    unbounded_loop: LoopRule = Field(default_factory=LoopRule, alias="unbounded-loop")
    large_allocation: AllocationRule = Field(default_factory=AllocationRule, alias="large-allocation")
    syntax_error: RuleConfig = Field(default_factory=RuleConfig, alias="syntax-error")
    unreadable: RuleConfig = Field(default_factory=RuleConfig)
    sql_read: RuleConfig = Field(default_factory=RuleConfig, alias="sql-read")
    sql_write: RuleConfig = Field(default_factory=RuleConfig, alias="sql-write")
    sql_refused: RuleConfig = Field(default_factory=RuleConfig, alias="sql-refused")
    http_request: RuleConfig = Field(default_factory=RuleConfig, alias="http-request")
    http_write: RuleConfig = Field(default_factory=RuleConfig, alias="http-write")
    host_not_allowed: RuleConfig = Field(default_factory=RuleConfig, alias="host-not-allowed")
    tool_unknown: RuleConfig = Field(default_factory=RuleConfig, alias="tool-unknown")

    def by_id(self, rule_id: str) -> RuleConfig:
        """A rule's settings by its id as findings and policy files spell it (`file-write`, not `file_write`)."""
        field = RULE_FIELDS[rule_id]
        return getattr(self, field)  # type: ignore[no-any-return]


RULE_FIELDS: dict[str, str] = {(info.alias or name): name for name, info in Rules.model_fields.items()}
# Rules whose `names` / `modules` lists are matched against every reference in the code, in this order
# (the first that claims a name reports it).
NAME_RULES: tuple[str, ...] = ("subprocess", "network", "eval-exec", "ctypes", "deserialisation",
                               "process-control", "introspection", "environment")


class PolicyConfig(_Strict):
    """A whole policy file. `extends = "default"` (the default) overlays this file on the shipped policy."""

    version: Literal[1] = 1
    extends: Literal["default", "none"] = "default"
    rules: Rules = Field(default_factory=Rules)


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except UnicodeDecodeError:
        raise PolicyError(f"policy file {path} is not UTF-8 text: give a TOML or JSON file") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must hold a table (TOML) or an object (JSON) at the top")
    return data


def _default_data() -> dict[str, Any]:
    text = resources.files("nativa.review").joinpath(DEFAULT_POLICY).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _overlay(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`: tables merge key by key, every other value (lists included) replaces."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(data: dict[str, Any], source: str) -> PolicyConfig:
    try:
        return PolicyConfig.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"policy {source}: {_describe(exc.errors()[0], data)}") from None


def _describe(error: Any, data: dict[str, Any]) -> str:
    """One line naming the bad key and value and what would be valid."""
    loc = [str(p) for p in error["loc"]]
    where = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        parent = loc[:-1]
        valid = _valid_keys(parent)
        hint = f"; valid keys here: {', '.join(valid)}" if valid else ""
        return f"unknown key {where!r}{hint}"
    value = error.get("input")
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    return f"{where} = {shown} is invalid: {error['msg']}"


def _valid_keys(parent: list[str]) -> list[str]:
    model: type[BaseModel] = PolicyConfig
    for part in parent:
        fields = {(info.alias or name): info for name, info in model.model_fields.items()}
        info = fields.get(part)
        annotation = info.annotation if info is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted((info.alias or name) for name, info in model.model_fields.items())


def load_config(path: Path | None = None) -> PolicyConfig:
    """The shipped default, or a team's file overlaid on it (or alone, with `extends = "none"`)."""
    default = _default_data()
    if path is None:
        return _validate(default, "(the shipped default)")
    data = _read(path)
    checked = _validate(data, f"file {path}")  # validate the file on its own first: errors name its keys
    if checked.extends == "none":
        named = set(data.get("rules") or {})
        off = {RULE_FIELDS[r]: checked.rules.by_id(r).model_copy(update={"enabled": False})
               for r in RULE_FIELDS if r not in named}
        return checked.model_copy(update={"rules": checked.rules.model_copy(update=off)})
    return _validate(_overlay(default, data) | {"extends": "default"}, f"file {path}")
