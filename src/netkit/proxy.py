"""Sans-IO PROXY protocol (HAProxy's v1 text and v2 binary headers): bytes in, header out.

A load balancer that speaks the PROXY protocol opens every connection to its backend
with a header naming the client it accepted; the backend reads the header first and
then serves the stream as usual. :class:`ProxyHeaderReader` is that first step with no
IO: feed it bytes as they arrive, in any split, and it returns a :class:`ProxyHeader`
once the header is whole (the bytes after it are in :attr:`ProxyHeaderReader.rest`), or
raises :class:`~netkit.errors.ProxyProtocolError` as soon as the input cannot be a
header. It never buffers more than the header's bounded size. :func:`encode_v1` and
:func:`encode_v2` build headers (for tests, and for proxies written with netkit).

Servers use it through ``proxy_protocol=``: only connections from trusted networks are
parsed; anything else is data.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal, NamedTuple

from netkit.addr import Endpoint, is_ipv4, is_ipv6, pack_ip, unpack_ip
from netkit.errors import ProxyProtocolError, describe

__all__ = [
    "DEFAULT_MAX_SIZE",
    "SIGNATURE_V2",
    "ProxyHeader",
    "ProxyHeaderReader",
    "SslInfo",
    "Tlv",
    "encode_v1",
    "encode_v2",
]

#: The 12 bytes every v2 header starts with.
SIGNATURE_V2: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_V1_PREFIX: Final = b"PROXY "
#: The longest v1 header, CRLF included (the spec's worst case).
V1_MAX_SIZE: Final = 107
#: Default bound on a v2 header (16 fixed bytes plus addresses and TLVs). HAProxy's own
#: headers, with SSL details, stay far below it; the format allows 65,551.
DEFAULT_MAX_SIZE: Final = 4096

_V2_FIXED: Final = 16
_ADDRESS_SIZES: Final = {0: 0, 1: 12, 2: 36, 3: 216}  # by family: UNSPEC, INET, INET6, UNIX
_FAMILIES: Final = {0: "UNSPEC", 1: "INET", 2: "INET6", 3: "UNIX"}
_TRANSPORTS: Final[dict[int, Literal["stream", "dgram"] | None]] = {
    0: None,
    1: "stream",
    2: "dgram",
}

# TLV types (section 2.2 of the spec).
PP2_TYPE_ALPN: Final = 0x01
PP2_TYPE_AUTHORITY: Final = 0x02
PP2_TYPE_CRC32C: Final = 0x03
PP2_TYPE_NOOP: Final = 0x04
PP2_TYPE_UNIQUE_ID: Final = 0x05
PP2_TYPE_SSL: Final = 0x20
PP2_SUBTYPE_SSL_VERSION: Final = 0x21
PP2_SUBTYPE_SSL_CN: Final = 0x22
PP2_SUBTYPE_SSL_CIPHER: Final = 0x23
PP2_SUBTYPE_SSL_SIG_ALG: Final = 0x24
PP2_SUBTYPE_SSL_KEY_ALG: Final = 0x25
PP2_TYPE_NETNS: Final = 0x30
_MAX_UNIQUE_ID: Final = 128


class Tlv(NamedTuple):
    """One type-length-value field of a v2 header, as received.

    Attributes:
        type: the field's type byte (``PP2_TYPE_*``).
        value: the field's bytes.
    """

    type: int
    value: bytes


class SslInfo(NamedTuple):
    """The ``PP2_TYPE_SSL`` field: how the client talked TLS to the proxy.

    The strings are the sub-fields the proxy sent, or None.

    Attributes:
        client: the PP2_CLIENT_* bits (1: SSL, 2: a certificate on this connection,
            4: a certificate in the session).
        verify: 0 when the client certificate was verified.
        version: the TLS version (``PP2_SUBTYPE_SSL_VERSION``).
        cn: the client certificate's common name (``PP2_SUBTYPE_SSL_CN``).
        cipher: the cipher suite (``PP2_SUBTYPE_SSL_CIPHER``).
        sig_alg: the certificate's signature algorithm (``PP2_SUBTYPE_SSL_SIG_ALG``).
        key_alg: the certificate's key algorithm (``PP2_SUBTYPE_SSL_KEY_ALG``).
    """

    client: int
    verify: int
    version: str | None
    cn: str | None
    cipher: str | None
    sig_alg: str | None
    key_alg: str | None


@dataclass(frozen=True)
class ProxyHeader:
    """A parsed PROXY protocol header.

    Addresses are an :class:`~netkit.Endpoint` for TCP/UDP over IPv4 or IPv6, a ``str``
    path for Unix sockets, or ``None`` when the header carries none (v1 ``UNKNOWN``, v2
    ``LOCAL`` or ``UNSPEC``): the connection's own addresses apply then.

    Attributes:
        version: 1 or 2.
        command: ``"PROXY"`` (relayed) or ``"LOCAL"`` (the proxy's own connection).
        source: the client's address.
        destination: the proxy's address the client connected to.
        transport: ``"stream"`` or ``"dgram"``, or None when not said.
        size: the header's length in bytes.
        tlvs: the v2 type-length-value fields, in order.
    """

    version: Literal[1, 2]
    command: Literal["PROXY", "LOCAL"]
    source: Endpoint | str | None
    destination: Endpoint | str | None
    transport: Literal["stream", "dgram"] | None
    size: int
    tlvs: tuple[Tlv, ...] = field(default=())

    def _tlv(self, kind: int) -> bytes | None:
        for tlv in self.tlvs:
            if tlv.type == kind:
                return tlv.value
        return None

    @property
    def alpn(self) -> bytes | None:
        """The application protocol the client negotiated with the proxy (``PP2_TYPE_ALPN``)."""
        return self._tlv(PP2_TYPE_ALPN)

    @property
    def authority(self) -> str | None:
        """The host name the client asked for (TLS SNI or Host; ``PP2_TYPE_AUTHORITY``)."""
        value = self._tlv(PP2_TYPE_AUTHORITY)
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def unique_id(self) -> bytes | None:
        """The proxy's opaque ID for this connection (``PP2_TYPE_UNIQUE_ID``)."""
        return self._tlv(PP2_TYPE_UNIQUE_ID)

    @property
    def netns(self) -> str | None:
        """The network namespace the proxy accepted the connection in (``PP2_TYPE_NETNS``)."""
        value = self._tlv(PP2_TYPE_NETNS)
        return None if value is None else value.decode("ascii", "replace")

    @property
    def ssl(self) -> SslInfo | None:
        """The client's TLS details (``PP2_TYPE_SSL``), or None."""
        value = self._tlv(PP2_TYPE_SSL)
        return None if value is None else _ssl_info(value)


class ProxyHeaderReader:
    """Reads one PROXY protocol header (v1 or v2) from bytes fed in any split.

    Parameters:
        max_size: the largest v2 header accepted (v1 headers are at most 107 bytes);
            a header announcing more is refused before its bytes are waited for.

    Raises:
        ValueError: *max_size* is below the 232 bytes every v2 header with Unix
            addresses needs.
    """

    __slots__ = ("_buffer", "_header", "_max_size", "_rest")

    def __init__(self, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not isinstance(max_size, int) or isinstance(max_size, bool):
            raise TypeError(f"max_size must be an int, not {type(max_size).__name__}")
        if max_size < _V2_FIXED + _ADDRESS_SIZES[3]:
            raise ValueError(f"max_size must be >= {_V2_FIXED + _ADDRESS_SIZES[3]}")
        self._max_size = max_size
        self._buffer = bytearray()
        self._header: ProxyHeader | None = None
        self._rest = b""

    @property
    def header(self) -> ProxyHeader | None:
        """The header once it is complete."""
        return self._header

    @property
    def rest(self) -> bytes:
        """The bytes fed after the header: the start of the proxied stream."""
        return self._rest

    def feed(self, data: bytes | bytearray | memoryview) -> ProxyHeader | None:
        """Add received bytes; return the header once it is whole, else None.

        Args:
            data: the next bytes of the connection.

        Returns:
            The header once complete (then :attr:`rest` holds what followed it), else None.

        Raises:
            ProxyProtocolError: the bytes cannot start a valid header (raised as soon as
                that is certain, e.g. at the first byte of plain data).
            RuntimeError: the header was already complete.
        """
        if self._header is not None:
            raise RuntimeError("the PROXY header is complete; the rest is stream data")
        buf = self._buffer
        buf += data
        if not buf:
            return None
        if buf[0] == SIGNATURE_V2[0]:
            return self._feed_v2()
        if buf[0] == _V1_PREFIX[0]:
            return self._feed_v1()
        raise ProxyProtocolError(
            f"not a PROXY protocol header: starts with {describe(bytes(buf[:16]))}"
        )

    def _done(self, header: ProxyHeader) -> ProxyHeader:
        self._rest = bytes(self._buffer[header.size :])
        self._buffer = bytearray()
        self._header = header
        return header

    # -- v1 ------------------------------------------------------------------------------

    def _feed_v1(self) -> ProxyHeader | None:
        buf = self._buffer
        head = bytes(buf[: len(_V1_PREFIX)])
        if not _V1_PREFIX.startswith(head):
            raise ProxyProtocolError(f"not a PROXY protocol header: {describe(head)}")
        end = buf.find(b"\r\n", 0, V1_MAX_SIZE)
        if end < 0:
            if b"\n" in buf[:V1_MAX_SIZE] or len(buf) >= V1_MAX_SIZE:
                raise ProxyProtocolError(
                    f"PROXY v1 header has no CRLF within {V1_MAX_SIZE} bytes: "
                    f"{describe(bytes(buf[:V1_MAX_SIZE]))}"
                )
            return None
        line = bytes(buf[:end])
        return self._done(_parse_v1(line, end + 2))

    # -- v2 ------------------------------------------------------------------------------

    def _feed_v2(self) -> ProxyHeader | None:
        buf = self._buffer
        head = bytes(buf[: len(SIGNATURE_V2)])
        if not SIGNATURE_V2.startswith(head):
            raise ProxyProtocolError(f"not a PROXY protocol header: {describe(head)}")
        if len(buf) < _V2_FIXED:
            return None
        total = _V2_FIXED + int.from_bytes(buf[14:16], "big")
        if total > self._max_size:
            raise ProxyProtocolError(
                f"PROXY v2 header of {total} bytes is over the limit of {self._max_size}"
            )
        _check_v2_fixed(buf[12], buf[13], total - _V2_FIXED)
        if len(buf) < total:
            return None
        return self._done(_parse_v2(bytes(buf[:total])))


def _parse_port(text: str) -> int:
    # Decimal 0..65535 with no sign, space or leading zero (the spec's form).
    digits = text.isascii() and text.isdigit()
    if not digits or len(text) > 5 or (len(text) > 1 and text[0] == "0"):
        raise ProxyProtocolError(f"PROXY v1 port {describe(text)} is not 0..65535 in decimal")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"PROXY v1 port {port} is out of range 0..65535")
    return port


def _parse_v1(line: bytes, size: int) -> ProxyHeader:
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ProxyProtocolError(f"PROXY v1 header is not ASCII: {describe(line)}") from None
    fields = text[len(_V1_PREFIX) :].split(" ")
    proto = fields[0]
    if proto == "UNKNOWN":  # the rest of the line is to be ignored (spec 2.1)
        return ProxyHeader(1, "PROXY", None, None, None, size)
    if proto not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(
            f"PROXY v1 protocol {describe(proto)} is not TCP4, TCP6 or UNKNOWN"
        )
    if len(fields) != 5:
        raise ProxyProtocolError(
            f"PROXY v1 {proto} header needs 4 fields separated by single spaces: {describe(line)}"
        )
    valid = is_ipv4 if proto == "TCP4" else is_ipv6
    src, dst, sport, dport = fields[1:]
    for address in (src, dst):
        if not valid(address):
            raise ProxyProtocolError(f"PROXY v1 {proto} address {describe(address)} is invalid")
    return ProxyHeader(
        1,
        "PROXY",
        Endpoint(src, _parse_port(sport)),
        Endpoint(dst, _parse_port(dport)),
        "stream",
        size,
    )


def _check_v2_fixed(version_command: int, family_transport: int, length: int) -> None:
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 header has version {version_command >> 4}, not 2")
    if version_command & 0x0F > 1:
        raise ProxyProtocolError(
            f"PROXY v2 command {version_command & 0x0F} is not LOCAL or PROXY"
        )
    family, transport = family_transport >> 4, family_transport & 0x0F
    if family not in _FAMILIES:
        raise ProxyProtocolError(f"PROXY v2 address family {family} is unknown")
    if transport not in _TRANSPORTS:
        raise ProxyProtocolError(f"PROXY v2 transport {transport} is unknown")
    if version_command & 0x0F == 1 and length < _ADDRESS_SIZES[family]:
        raise ProxyProtocolError(
            f"PROXY v2 {_FAMILIES[family]} addresses need {_ADDRESS_SIZES[family]} bytes, "
            f"the header has {length}"
        )


def _unix_path(raw: bytes) -> str:
    if raw[:1] == b"\0":  # a Linux abstract name: the padding is all that can be cut
        return os.fsdecode(raw.rstrip(b"\0")) or "\0"
    return os.fsdecode(raw.split(b"\0", 1)[0])


def _parse_v2(data: bytes) -> ProxyHeader:
    command: Literal["PROXY", "LOCAL"] = "PROXY" if data[12] & 0x0F == 1 else "LOCAL"
    family, transport = data[13] >> 4, data[13] & 0x0F
    body = memoryview(data)[_V2_FIXED:]
    size = _ADDRESS_SIZES[family] if len(body) >= _ADDRESS_SIZES[family] else 0
    source: Endpoint | str | None = None
    destination: Endpoint | str | None = None
    if command == "PROXY" and family in (1, 2):
        width = 4 if family == 1 else 16
        src, dst = bytes(body[:width]), bytes(body[width : 2 * width])
        sport, dport = struct.unpack_from("!HH", body, 2 * width)
        source, destination = Endpoint(unpack_ip(src), sport), Endpoint(unpack_ip(dst), dport)
    elif command == "PROXY" and family == 3:
        source, destination = _unix_path(bytes(body[:108])), _unix_path(bytes(body[108:216]))
    placed = _parse_tlvs(body[size:], _V2_FIXED + size)
    tlvs = tuple(tlv for _, tlv in placed)
    header = ProxyHeader(
        2, command, source, destination, _TRANSPORTS[transport] if command == "PROXY" else None,
        len(data), tlvs,
    )  # fmt: skip
    for offset, tlv in placed:
        if tlv.type == PP2_TYPE_CRC32C:
            _verify_crc32c(data, offset, tlv.value)
    ssl_value = header._tlv(PP2_TYPE_SSL)
    if ssl_value is not None:
        _ssl_info(ssl_value)  # parsed now, so a malformed one refuses the header
    unique = header.unique_id
    if unique is not None and len(unique) > _MAX_UNIQUE_ID:
        raise ProxyProtocolError(f"PROXY v2 unique ID of {len(unique)} bytes is over 128")
    return header


def _parse_tlvs(raw: memoryview | bytes, base: int = 0) -> list[tuple[int, Tlv]]:
    """The TLVs in *raw*, each with its offset (*base* + its place in *raw*)."""
    tlvs: list[tuple[int, Tlv]] = []
    at = 0
    while at < len(raw):
        if len(raw) - at < 3:
            raise ProxyProtocolError(f"PROXY v2 TLV truncated: {len(raw) - at} bytes left")
        kind = raw[at]
        length = int.from_bytes(raw[at + 1 : at + 3], "big")
        if at + 3 + length > len(raw):
            raise ProxyProtocolError(
                f"PROXY v2 TLV {kind:#04x} announces {length} bytes, {len(raw) - at - 3} are left"
            )
        tlvs.append((base + at, Tlv(kind, bytes(raw[at + 3 : at + 3 + length]))))
        at += 3 + length
    return tlvs


def _ssl_info(value: bytes) -> SslInfo:
    if len(value) < 5:
        raise ProxyProtocolError(f"PROXY v2 SSL TLV of {len(value)} bytes is under 5")
    client, verify = value[0], int.from_bytes(value[1:5], "big")
    fields: dict[int, str] = {}
    for _, sub in _parse_tlvs(value[5:]):
        fields.setdefault(sub.type, sub.value.decode("ascii", "replace"))
    return SslInfo(
        client,
        verify,
        fields.get(PP2_SUBTYPE_SSL_VERSION),
        fields.get(PP2_SUBTYPE_SSL_CN),
        fields.get(PP2_SUBTYPE_SSL_CIPHER),
        fields.get(PP2_SUBTYPE_SSL_SIG_ALG),
        fields.get(PP2_SUBTYPE_SSL_KEY_ALG),
    )


# -- CRC32C (Castagnoli), for PP2_TYPE_CRC32C ----------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C (Castagnoli) of *data*, as PP2_TYPE_CRC32C uses it."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _verify_crc32c(data: bytes, at: int, checksum: bytes) -> None:
    """Check the CRC32C TLV at offset *at*: computed over the header with it zeroed."""
    if len(checksum) != 4:
        raise ProxyProtocolError(f"PROXY v2 CRC32C TLV has {len(checksum)} bytes, not 4")
    zeroed = data[: at + 3] + b"\0\0\0\0" + data[at + 7 :]
    if crc32c(zeroed) != int.from_bytes(checksum, "big"):
        raise ProxyProtocolError("PROXY v2 header fails its CRC32C checksum")


# -- encoding --------------------------------------------------------------------------------


def _one_family(source: Endpoint, destination: Endpoint) -> str:
    return f"source and destination must be IP addresses of one family: {source}, {destination}"


def encode_v1(source: Endpoint | None, destination: Endpoint | None) -> bytes:
    """A v1 header for a TCP connection from *source* to *destination*.

    ``None`` for both gives ``PROXY UNKNOWN``. Both must be the same IP family.

    Args:
        source: the client's address.
        destination: the address the client connected to.

    Returns:
        The header line, ``\\r\\n`` included.

    Raises:
        ValueError: only one endpoint is given, or they are hostnames, zoned, or of two
            families.
    """
    if source is None and destination is None:
        return b"PROXY UNKNOWN\r\n"
    if source is None or destination is None:
        raise ValueError("give both source and destination, or neither")
    families = {source.family, destination.family}
    if len(families) != 1 or None in families or "%" in source.host + destination.host:
        raise ValueError(_one_family(source, destination))
    proto = "TCP6" if ":" in source.host else "TCP4"
    line = f"PROXY {proto} {source.host} {destination.host} {source.port} {destination.port}\r\n"
    return line.encode("ascii")


def encode_v2(
    source: Endpoint | None,
    destination: Endpoint | None,
    *,
    tlvs: Iterable[Tlv] = (),
    transport: Literal["stream", "dgram"] = "stream",
    checksum: bool = False,
) -> bytes:
    """A v2 header: ``PROXY`` with the two endpoints, or ``LOCAL`` when both are None.

    Args:
        source: the client's address.
        destination: the address the client connected to.
        tlvs: type-length-value fields to append, in order.
        transport: ``"stream"`` (TCP) or ``"dgram"`` (UDP).
        checksum: add a ``PP2_TYPE_CRC32C`` TLV.

    Returns:
        The binary header.

    Raises:
        ValueError: only one endpoint is given, or they are hostnames, zoned, or of two
            families, or the header would be over 65,551 bytes.
    """
    if source is None and destination is None:
        command, family_byte, addresses = 0x20, 0x00, b""
    elif source is None or destination is None:
        raise ValueError("give both source and destination, or neither")
    else:
        families = {source.family, destination.family}
        if len(families) != 1 or None in families or "%" in source.host + destination.host:
            raise ValueError(_one_family(source, destination))
        family = 2 if ":" in source.host else 1
        command = 0x21
        family_byte = family << 4 | (1 if transport == "stream" else 2)
        addresses = (
            pack_ip(source.host) + pack_ip(destination.host)
            + struct.pack("!HH", source.port, destination.port)
        )  # fmt: skip
    body = addresses + b"".join(
        bytes([tlv.type]) + len(tlv.value).to_bytes(2, "big") + tlv.value for tlv in tlvs
    )
    if checksum:
        body += bytes([PP2_TYPE_CRC32C, 0, 4]) + b"\0\0\0\0"
    if len(body) > 0xFFFF:
        raise ValueError(f"a v2 header body of {len(body)} bytes is over 65535")
    header = SIGNATURE_V2 + bytes([command, family_byte]) + len(body).to_bytes(2, "big") + body
    if checksum:
        header = header[:-4] + crc32c(header).to_bytes(4, "big")
    return header
