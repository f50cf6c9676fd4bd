"""Loaded by Python at start-up when this folder is on PYTHONPATH (tests/test_offline.py): every attempt to reach
a host that is not this machine (a connection, a datagram, a name lookup) is written to $OFFLINE_GUARD_LOG and
refused, so the test sees what the server would ask of the network, and nothing leaves the machine."""
import ipaddress
import os
import socket

_LOG = os.environ.get("OFFLINE_GUARD_LOG")
_LOCAL_NAMES = {None, "", "localhost", "localhost.localdomain", "ip6-localhost"}


def _is_local(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(str(host).split("%")[0])
    except ValueError:
        return False  # a name other than localhost: resolving it would ask a DNS server
    return ip.is_loopback or ip.is_unspecified


def _refuse(what: str, target) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{what} {target!r}\n")
    raise OSError(f"offline guard: {what} to {target!r} refused (not this machine)")


def _check_address(what, address):
    if isinstance(address, tuple) and address and not _is_local(address[0]):
        _refuse(what, address)


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    _check_address("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    _check_address("connect", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _check_address("sendto", args[-1])
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if not _is_local(host):
        _refuse("name lookup", host)
    return _getaddrinfo(host, *args, **kwargs)


if _LOG:
    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
