"""Where the service may send an HTTP request (webhooks, OpenDSR callbacks): public addresses only.

An admin session (or a stolen one) must not turn the webhook sender into a probe of the inside: loopback,
private networks, link-local (169.254.169.254 is the cloud metadata service), shared, multicast, reserved and
unspecified addresses are refused. A receiver is checked twice:

- when it is registered: its scheme, and its address when the URL names one (``http://10.0.0.7``, also written
  ``http://167772167``) or ``localhost``, without resolving any other name;
- when each delivery is sent: the name is resolved, every address it gives is checked, and the connection is
  made to an address that was checked, so that a DNS answer changed in between (rebinding) cannot slip past.

Redirects are never followed (services/webhooks.py) and no proxy is used, so the address checked is the
address connected to. A receiver inside the controller's own network can be allowed explicitly with
``DSAR_WEBHOOK_ALLOWED_NETWORKS`` (comma-separated CIDRs, e.g. ``10.20.0.0/16``).
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import urllib.request
from urllib.parse import urlsplit

from flask import current_app

from ..errors import InvalidInput, N_

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(Exception):
    """The receiver's address is not a public one (and not in an allowed network)."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    raw = current_app.config.get("DSAR_WEBHOOK_ALLOWED_NETWORKS") or ""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item and item.strip()]


def is_allowed(address: Address) -> bool:
    """A public unicast address, or one in a network the configuration allows."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped   # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed_networks()):
        return True
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


def _numeric_address(host: str) -> Address | None:
    """The address a host written as a number stands for (every form the resolver accepts), without DNS."""
    try:
        infos = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return ipaddress.ip_address(infos[0][4][0].split("%")[0])


def check_receiver_url(url: str) -> None:
    """At registration: InvalidInput (field ``url``) for an address that is written as internal."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        raise InvalidInput(N_("Enter an http:// or https:// address."), code="bad_url", field="url")
    address = _numeric_address(host)
    internal = (host == "localhost" or host.endswith(".localhost")) and not _loopback_allowed()
    if internal or (address is not None and not is_allowed(address)):
        raise InvalidInput(N_("This address is inside a private network: webhooks go to public internet "
                              "addresses only."), code="internal_address", field="url")


def _loopback_allowed() -> bool:
    return is_allowed(ipaddress.ip_address("127.0.0.1"))


def connect_checked(address: tuple[str, int], timeout=socket._GLOBAL_DEFAULT_TIMEOUT, source_address=None):
    """``socket.create_connection`` that resolves once, checks every address, and connects only to those."""
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OSError("name not resolved") from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses or not all(is_allowed(a) for a in addresses):
        raise RefusedDestination(host)   # one internal address is enough to refuse the name
    last_error: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            if timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last_error = exc
    raise last_error or OSError("no address to connect to")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = connect_checked


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = connect_checked   # TLS still checks the certificate against the name


class CheckedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_CheckedHTTPConnection, req)


class CheckedHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_CheckedHTTPSConnection, req, context=self._context)
