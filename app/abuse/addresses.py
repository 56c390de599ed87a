"""Which address a form post comes from, as far as it can be trusted."""

import ipaddress
import logging

from starlette.requests import Request

log = logging.getLogger(__name__)

# Only the host itself or a proxy posts from these. Limiting them per address would put every
# visitor behind a proxy in one bucket and refuse real leads, so they get the per-source limit only.
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)
_warned_about_proxy = False


def client_address(request: Request, *, trusted_hops: int) -> str:
    """The peer, or with `trusted_hops` proxies in front the address the outermost of them saw
    (each proxy appends its peer to X-Forwarded-For; what a client wrote itself comes first)."""
    peer = request.client.host if request.client else ""
    if trusted_hops <= 0:
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
        if part.strip()
    ]
    return forwarded[-min(trusted_hops, len(forwarded))] if forwarded else peer


def limited_address(request: Request, *, trusted_hops: int) -> str | None:
    """The key a post is limited by per address, or None when it is not (an internal address)."""
    key = rate_key(client_address(request, trusted_hops=trusted_hops))
    if key is None and trusted_hops == 0 and "x-forwarded-for" in request.headers:
        warn_proxy_untrusted()
    return key


def rate_key(address: str) -> str | None:
    """IPv6 by its /64 (one subscriber's share); None for an internal address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in INTERNAL_NETWORKS):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def warn_proxy_untrusted() -> None:
    global _warned_about_proxy
    if not _warned_about_proxy:
        _warned_about_proxy = True
        log.warning(
            "form posts arrive through a proxy (X-Forwarded-For) but TRUSTED_PROXY_HOPS is 0: "
            "they are not limited per address until it is set"
        )
