"""Decide whether an HTTP request may leave: the host is on the user's allow-list and every address it
resolves to is public (server-side request forgery defence).

A model can be talked into fetching `http://169.254.169.254/` (cloud credentials) or an internal admin
page, and it can spell the address many ways: `2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`,
`[::ffff:127.0.0.1]`, a 6to4 or NAT64 address wrapping it, or a DNS name that resolves to it. So the host
is parsed the way the C library would parse it, IPv6 forms that embed an IPv4 address are unwrapped, names
are resolved, and the request then connects to the address that was checked (no second lookup that a
rebinding DNS server could answer differently). Cloud metadata addresses are refused even when private
targets are allowed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nativa.errors import RequestRefused, RequestRefusedError  # noqa: F401 - defined in nativa.errors, importable from here as before

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
    "169.254.170.2",  # AWS ECS task metadata
    "169.254.169.123",  # AWS time sync
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS IPv6 metadata
    "168.63.129.16",  # Azure wire server (a public address, refused by name)
))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HostRule:
    """One allow-list entry: `example.com`, `example.com:8443`, or `*.example.com` (subdomains only)."""

    host: str
    port: int | None = None
    wildcard: bool = False

    @classmethod
    def parse(cls, entry: str) -> HostRule:
        """A rule from how people write hosts (a scheme or path is dropped, `[::1]:8080` is understood);
        a ValueError names the entry and the forms that are valid."""
        text = entry.strip().lower().rstrip(".")
        if "://" in text:
            text = text.split("://", 1)[1]
        text = text.split("/", 1)[0]
        port: int | None = None
        if text.startswith("["):  # [::1]:8080
            host, _, rest = text[1:].partition("]")
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif text.count(":") == 1:
            host, _, p = text.partition(":")
            if not p.isdigit():
                raise ValueError(f"allow-list entry {entry!r} has a bad port {p!r}")
            port = int(p)
        else:
            host = text
        wildcard = host.startswith("*.")
        if wildcard:
            host = host[2:]
        if not host or "*" in host:
            raise ValueError(f"allow-list entry {entry!r} is not a host; valid: example.com, example.com:8080, "
                             f"*.example.com, 127.0.0.1")
        return cls(host=host, port=port, wildcard=wildcard)

    def matches(self, host: str, port: int) -> bool:
        """Whether a request to `host:port` is allowed by this entry; `*.example.com` matches subdomains,
        not example.com itself."""
        if self.port is not None and self.port != port:
            return False
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host

    def __str__(self) -> str:
        text = f"*.{self.host}" if self.wildcard else self.host
        return f"{text}:{self.port}" if self.port is not None else text


def normalize_host(host: str) -> str:
    """The host as rules compare it: lower case, no trailing dot, no IPv6 brackets."""
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes if it is an IP literal in any form a resolver accepts, else None."""
    text = normalize_host(host)
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        pass
    if _LEGACY_IPV4.match(text):  # decimal, hex, octal, and short forms (127.1) as inet_aton reads them
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries: mapped, compatible, 6to4, Teredo and NAT64 forms."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    packed = ip.packed
    if packed[:12] == bytes(12) and int.from_bytes(packed[12:]) > 1:  # ::a.b.c.d (IPv4-compatible), not ::1
        found.append(ipaddress.IPv4Address(packed[12:]))
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def refusal(ip: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to `ip` is refused, or None if it is allowed."""
    for candidate in [*embedded_ipv4(ip), ip]:  # the embedded address first: it names the real target
        shown = "" if candidate == ip else f" (embedded in {ip})"
        if candidate in METADATA_ADDRESSES:
            return f"{candidate}{shown} is a cloud metadata address, which is never allowed"
        if candidate.is_multicast:
            return f"{candidate}{shown} is a multicast address"
        if candidate.is_unspecified:
            return f"{candidate}{shown} is the unspecified address"
        if candidate.is_loopback or candidate.is_link_local or candidate.is_private:
            if not allow_private:
                what = "loopback" if candidate.is_loopback else "link-local" if candidate.is_link_local else "private"
                return (f"{candidate}{shown} is a {what} address; private targets need the user's explicit "
                        f"permission (--allow-private)")
            continue
        if not candidate.is_global:
            return f"{candidate}{shown} is a reserved, non-public address"
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, each once; a name that does not resolve is a
    RequestRefusedError naming it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RequestRefusedError(f"cannot resolve host {host!r}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vet(host: str, port: int, *, allow_private: bool, resolver: Resolver) -> IPAddress:
    """The checked address to connect to; refuses if *any* address of the name is not allowed."""
    literal = parse_ip(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = []
        for text in resolver(host, port):
            ip = parse_ip(text)
            if ip is None:
                raise RequestRefusedError(f"host {host!r} resolved to {text!r}, which is not an IP address")
            addresses.append(ip)
        if not addresses:
            raise RequestRefusedError(f"host {host!r} resolved to no address")
    for ip in addresses:
        reason = refusal(ip, allow_private=allow_private)
        if reason is not None:
            via = "" if literal is not None else f"host {host!r} resolves to a refused address: "
            raise RequestRefusedError(f"{via}{reason}")
    return addresses[0]
