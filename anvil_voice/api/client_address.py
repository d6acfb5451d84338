"""The address a request came from, as the per-IP limits count it.

Behind reverse proxies every request arrives from the nearest proxy, so REMOTE_ADDR alone puts
all clients in one bucket. Each proxy appends the address it saw to a header (X-Forwarded-For);
only the entries our own proxies wrote can be believed, and a client can write any others. So
the header is read only when `TRUSTED_PROXY_COUNT` says how many proxies stand in front of us,
and the address taken is the one the outermost of them saw: that many entries from the right.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def _meta_key(header: str) -> str:
    return "HTTP_" + header.upper().replace("-", "_")


def client_ip(request: HttpRequest) -> str:
    remote = str(request.META.get("REMOTE_ADDR", ""))
    trusted = int(settings.TRUSTED_PROXY_COUNT)
    if trusted <= 0:
        return remote
    header = str(request.META.get(_meta_key(str(settings.TRUSTED_PROXY_HEADER)), ""))
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    if len(hops) < trusted:
        # Fewer entries than proxies: the request skipped some of them (or came straight to
        # us); what is written cannot be told from what a client forged.
        return remote
    return hops[-trusted]
