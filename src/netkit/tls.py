"""``ssl.SSLContext`` builders with safe defaults for netkit clients and servers.

Both start from :func:`ssl.create_default_context` (the :mod:`ssl` module's own secure
defaults: no SSLv2/3, no compression, the interpreter's vetted cipher list) and raise
the floor to TLS 1.2. A client context verifies the server's certificate chain and its
host name; a server context asks for client certificates only when given the CAs to
check them against. The contexts are ordinary ``SSLContext`` objects: pass them as
``tls=`` to :meth:`netkit.TcpClient.connect` and :class:`netkit.TcpServer`, or adjust them
further before use.

This module does no IO beyond reading the certificate and key files it is given.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Iterable

from netkit.addr import Endpoint
from netkit.errors import ConnectFailed, NetkitError, NetkitTimeout, describe

__all__ = ["client_context", "handshake_error", "server_context"]

_Path = str | bytes | os.PathLike[str] | os.PathLike[bytes]
_Password = Callable[[], str | bytes | bytearray] | str | bytes | bytearray | None


def _check_version(minimum_version: ssl.TLSVersion) -> ssl.TLSVersion:
    if not isinstance(minimum_version, ssl.TLSVersion):
        raise TypeError(
            f"minimum_version must be an ssl.TLSVersion, not {type(minimum_version).__name__}"
        )
    # MAXIMUM_SUPPORTED (-1) sorts below every real version but means "newest only".
    if minimum_version != ssl.TLSVersion.MAXIMUM_SUPPORTED and (
        minimum_version < ssl.TLSVersion.TLSv1_2
    ):
        raise ValueError(f"minimum_version must be TLS 1.2 or later, not {minimum_version.name}")
    return minimum_version


def _set_alpn(context: ssl.SSLContext, alpn: Iterable[str] | None) -> None:
    if alpn is None:
        return
    if isinstance(alpn, (str, bytes)):
        raise TypeError("alpn must be a list of protocol names such as ['h2', 'http/1.1']")
    protocols = list(alpn)
    for name in protocols:
        if not isinstance(name, str) or not name or len(name.encode()) > 255:
            raise ValueError(f"invalid ALPN protocol name {describe(name)}")
    context.set_alpn_protocols(protocols)


def client_context(
    cafile: _Path | None = None,
    *,
    capath: _Path | None = None,
    cadata: str | bytes | None = None,
    certfile: _Path | None = None,
    keyfile: _Path | None = None,
    password: _Password = None,
    alpn: Iterable[str] | None = None,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """Return a context for connecting to TLS servers.

    Certificates are verified and host names checked (``CERT_REQUIRED``,
    ``check_hostname``).

    Args:
        cafile: a PEM file of CAs to trust instead of the system's store.
        capath: a directory of CA certificates to trust.
        cadata: CA certificates to trust, as PEM text or DER bytes.
        certfile: a client certificate (chain) to present.
        keyfile: the key of *certfile*, if not in the same file.
        password: the password of an encrypted key, or a function returning it.
        alpn: protocols to offer, most preferred first.
        minimum_version: the oldest TLS version accepted, at least TLS 1.2.

    Returns:
        A new ``ssl.SSLContext``.

    Raises:
        TypeError: *minimum_version* is not an ``ssl.TLSVersion``, or *alpn* is a single
            string.
        ValueError: *minimum_version* is older than TLS 1.2, *keyfile* comes without
            *certfile*, or an ALPN name is empty or longer than 255 bytes.
        OSError: a certificate or key file cannot be read.
        ssl.SSLError: a certificate, key or password is not valid.
    """
    version = _check_version(minimum_version)
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=cafile, capath=capath, cadata=cadata
    )
    context.minimum_version = version
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if certfile is not None:
        context.load_cert_chain(certfile, keyfile, password)
    elif keyfile is not None:
        raise ValueError("keyfile needs certfile")
    _set_alpn(context, alpn)
    return context


def server_context(
    certfile: _Path,
    keyfile: _Path | None = None,
    *,
    password: _Password = None,
    cafile: _Path | None = None,
    capath: _Path | None = None,
    cadata: str | bytes | None = None,
    require_client_cert: bool = False,
    alpn: Iterable[str] | None = None,
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """Return a context for a TLS server presenting *certfile* (chain) and *keyfile*.

    Without *cafile*, *capath* or *cadata* no client certificate is asked for.

    Args:
        certfile: the server's certificate chain (PEM).
        keyfile: its key, if not in *certfile*.
        password: the password of an encrypted key, or a function returning it.
        cafile: a PEM file of CAs: clients that present a certificate must present one
            those CAs signed (``CERT_OPTIONAL``).
        capath: a directory of such CA certificates.
        cadata: such CA certificates, as PEM text or DER bytes.
        require_client_cert: every client must present a certificate
            (``CERT_REQUIRED``, which needs the CAs).
        alpn: the protocols the server accepts, most preferred first.
        minimum_version: the oldest TLS version accepted, at least TLS 1.2.

    Returns:
        A new ``ssl.SSLContext``.

    Raises:
        TypeError: *minimum_version* is not an ``ssl.TLSVersion``,
            *require_client_cert* is not a bool, or *alpn* is a single string.
        ValueError: *minimum_version* is older than TLS 1.2, *require_client_cert*
            comes without CAs, or an ALPN name is empty or longer than 255 bytes.
        OSError: a certificate or key file cannot be read.
        ssl.SSLError: a certificate, key or password is not valid.
    """
    version = _check_version(minimum_version)
    if not isinstance(require_client_cert, bool):
        raise TypeError("require_client_cert must be a bool")
    has_cas = bool(cafile or capath or cadata)
    if require_client_cert and not has_cas:
        raise ValueError("require_client_cert needs cafile, capath or cadata to check against")
    # Without CAs this verifies nothing and asks no client for a certificate.
    context = ssl.create_default_context(
        ssl.Purpose.CLIENT_AUTH, cafile=cafile, capath=capath, cadata=cadata
    )
    if has_cas:
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    context.minimum_version = version
    context.load_cert_chain(certfile, keyfile, password)
    _set_alpn(context, alpn)
    return context


def handshake_timeout(endpoint: object, timeout: float | None) -> NetkitTimeout:
    """The error for a TLS handshake with *endpoint* that took longer than *timeout*.

    One message for clients and servers of both faces.
    """
    return NetkitTimeout(f"TLS handshake with {endpoint} timed out (timeout {timeout} s)")


def handshake_error(endpoint: Endpoint, exc: BaseException, timeout: float | None) -> NetkitError:
    """The netkit error for a client TLS handshake with *endpoint* that raised *exc*.

    Shared by the sync and asyncio clients.

    Args:
        endpoint: the server's address.
        exc: what the handshake raised.
        timeout: the deadline the handshake had, for the message.

    Returns:
        ``NetkitTimeout`` for a deadline that passed; ``ConnectFailed`` with the
        ``ssl`` error in ``attempts`` for a rejected certificate or any other failure.
    """
    if isinstance(exc, NetkitTimeout) or (isinstance(exc, TimeoutError) and exc.errno is None):
        return handshake_timeout(endpoint, timeout)
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = f"TLS certificate of {endpoint} rejected: {exc.verify_message}"
    else:
        reason = f"TLS handshake with {endpoint} failed: {exc}"
    return ConnectFailed(reason, [(endpoint, exc)])
