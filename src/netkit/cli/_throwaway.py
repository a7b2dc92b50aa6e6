"""A throwaway self-signed TLS certificate for ``netkit listen --tls`` (private).

The standard library can use certificates but not make one, so a listener given no
``--cert`` asks, in this order:

1. the ``openssl`` command, when it is on PATH: no Python dependency (netkit's promise
   is the standard library only), and present wherever the system's CA certificates
   are installed (Debian's ``ca-certificates`` depends on it), so on practically every
   Linux machine and container that does TLS at all;
2. the ``cryptography`` package (``pip install 'netkit-sockets[tls-cli]'``), for the
   machines without the command (Windows, distroless or Alpine images);

and otherwise fails with one line naming both and ``--cert``/``--key``. The certificate
is an EC P-256 key, valid for one day, for ``localhost``, ``127.0.0.1``, ``::1`` and the
listening host. Certificate and key are written to a private temporary directory
(mode 0700), loaded into the server's ``SSLContext`` (the ssl module reads keys only
from files) and deleted at once: the key exists only in this process's memory. A
client cannot verify such a certificate against any CA; it pins it by the SHA-256
fingerprint that the listener prints (``netkit connect --tls --pin FINGERPRINT``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from netkit.cli import Failed
from netkit.cli._common import STEP_TIMEOUT, reason

__all__ = ["Throwaway", "fingerprint", "make", "names_for"]

#: What the certificate calls itself (its subject and issuer).
COMMON_NAME = "netkit throwaway certificate"
#: How long it is valid, in days; the key dies with the process anyway.
_DAYS = 1
#: Hosts that say "every address": no certificate names them.
_WILDCARDS = ("", "0.0.0.0", "::")


@dataclass(frozen=True)
class Throwaway:
    """A server context presenting a throwaway certificate, and what to tell the user.

    Attributes:
        context: the server's ``SSLContext``, certificate and key loaded.
        origin: where the certificate came from, e.g. ``the openssl command
            (/usr/bin/openssl)``.
        fingerprint: the SHA-256 of the certificate (DER), as colon-separated hex pairs.
        names: the host names and addresses in the certificate.
    """

    context: ssl.SSLContext
    origin: str
    fingerprint: str
    names: tuple[str, ...]


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, as ``openssl x509 -fingerprint``
    prints it: upper-case hex pairs joined by colons.

    Parameters:
        der: the certificate in DER form (``SSLSocket.getpeercert(binary_form=True)``).

    Returns:
        95 characters: 32 hex pairs and 31 colons.
    """
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def names_for(host: str) -> tuple[str, ...]:
    """The names a throwaway certificate for a listener on *host* carries.

    Parameters:
        host: the host the listener binds (an IP address or a host name).

    Returns:
        ``localhost``, ``127.0.0.1`` and ``::1``, and *host* unless it is one of them
        or means every address (``0.0.0.0``, ``::``).
    """
    names = ["localhost", "127.0.0.1", "::1"]
    if host not in _WILDCARDS and host not in names:
        names.append(host)
    return tuple(names)


def make(names: Sequence[str], *, openssl: str | None = None) -> Throwaway:
    """Make a throwaway certificate for *names* and a server context presenting it.

    Parameters:
        names: host names and IP addresses for the certificate (the first is also
            its common name's companion in the messages).
        openssl: the ``openssl`` command to use; by default the one on PATH.

    Returns:
        The context, where the certificate came from and its fingerprint.

    Raises:
        Failed: neither the ``openssl`` command nor the ``cryptography`` package could
            make one (one line that says what to install, or to give ``--cert``).
    """
    from netkit.tls import server_context

    command = openssl if openssl is not None else shutil.which("openssl")
    problems: list[str] = []
    # A private directory (mkdtemp makes it 0700) that is gone when this returns.
    with tempfile.TemporaryDirectory(prefix="netkit-tls-") as folder:
        cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
        origin = None
        if command is not None:
            try:
                _with_openssl(command, names, Path(folder), cert, key)
                origin = f"the openssl command ({command})"
            except _CannotMake as exc:
                problems.append(str(exc))
        else:
            problems.append("no openssl command on PATH")
        if origin is None:
            for path in (cert, key):  # whatever a failed openssl left behind
                path.unlink(missing_ok=True)
            try:
                version = _with_cryptography(names, cert, key)
                origin = f"the cryptography package ({version})"
            except _CannotMake as exc:
                problems.append(str(exc))
        if origin is None:
            raise Failed(
                "--tls without --cert needs a throwaway certificate, and none could be "
                f"made ({'; '.join(problems)}): install the openssl command or "
                "'netkit-sockets[tls-cli]', or give --cert and --key"
            )
        try:
            context = server_context(cert, key)
            der = ssl.PEM_cert_to_DER_cert(cert.read_text("ascii"))
        except (OSError, ValueError) as exc:  # a maker wrote something ssl cannot use
            raise Failed(
                f"the throwaway certificate from {origin} is unusable: {reason(exc)}"
            ) from exc
    return Throwaway(context, origin, fingerprint(der), tuple(names))


class _CannotMake(Exception):
    """One way of making the certificate is not available or failed (why, in short)."""


def _with_openssl(command: str, names: Sequence[str], folder: Path, cert: Path, key: Path) -> None:
    # Our own configuration file: the system's openssl.cnf may be missing or add
    # extensions (CA:TRUE) that a server certificate must not have.
    config = folder / "req.cnf"
    config.write_text(
        "[req]\n"
        "distinguished_name = dn\n"
        "x509_extensions = ext\n"
        "prompt = no\n"
        "[dn]\n"
        f"CN = {COMMON_NAME}\n"
        "[ext]\n"
        f"subjectAltName = {','.join(_san(name) for name in names)}\n"
        "basicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = serverAuth\n",
        "ascii",
    )
    argv = [
        command,
        "req",
        "-x509",
        "-config",
        str(config),
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",  # no passphrase: nobody is there to type it (-noenc in OpenSSL 3 only)
        "-keyout",
        str(key),
        "-out",
        str(cert),
        "-days",
        str(_DAYS),
    ]
    try:
        # stdin closed: the user's stdin is the listener's data, never openssl's.
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=2 * STEP_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _CannotMake(f"{command} failed: {reason(exc)}") from exc
    if done.returncode != 0 or not cert.exists() or not key.exists():
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise _CannotMake(f"{command} failed: {last[:200]}")


def _san(name: str) -> str:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return f"DNS:{name}"
    return f"IP:{name}"


def _with_cryptography(names: Sequence[str], cert: Path, key: Path) -> str:
    try:
        import cryptography
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise _CannotMake("no cryptography package") from None
    private = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        # A few minutes back: a client whose clock is slightly behind still accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(private, hashes.SHA256())
    )
    # The key file is created 0600 before anything is written to it.
    descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(
            private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(cryptography.__version__)
