"""What a review knows about the run around the code: whose session, what the user granted, what came before.

The grants matter to the verdict (a URL on the user's `--allow-host` list is a low-risk read, one off it is
high), and the session matters to approvals (an approval for this session covers nothing in another).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nativa.errors import BadInputError
from nativa.tools.guards import HostRule, normalize_host


@dataclass(frozen=True)
class ReviewContext:
    """The run a piece of code or a tool call belongs to. `who` is the API key's name or the local user."""

    session: str = "default"
    who: str = "local"
    allow_hosts: tuple[str, ...] = ()
    allow_writes: bool = False
    sql_backend: str = "sqlite"
    previous_code: str | None = None
    _rules: tuple[HostRule, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.session or not self.session.strip():
            raise BadInputError("the review session name is empty: give a name such as 'default'")
        rules = []
        for entry in self.allow_hosts:
            try:
                rules.append(HostRule.parse(entry))
            except ValueError as exc:
                raise BadInputError(str(exc)) from None
        object.__setattr__(self, "_rules", tuple(rules))

    def host_allowed(self, host: str, port: int) -> bool:
        """True when the user's allow-list grants `host:port` (same entry syntax as `nativa run --allow-host`)."""
        name = normalize_host(host)
        return any(rule.matches(name, port) for rule in self._rules)


def sql_backend_of(url: str | None) -> str:
    """The SQL dialect of a database URL, for the review's SQL parser (`sqlite` without one)."""
    if not url:
        return "sqlite"
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return "sqlite"  # the SQL tool refuses the URL itself, with its own message
