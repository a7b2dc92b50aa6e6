"""netkit.byteorder: inverses, agreement with socket, strict ranges and types."""

from __future__ import annotations

import doctest
import enum
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import netkit
from netkit.byteorder import htonl, htonll, htons, ntohl, ntohll, ntohs

Convert = Callable[[int], int]

PAIRS: list[tuple[Convert, Convert, int]] = [
    (htons, ntohs, 16),
    (htonl, ntohl, 32),
    (htonll, ntohll, 64),
]
ALL: list[tuple[Convert, int]] = [(f, bits) for pair in PAIRS for f, bits in (pair[::2], pair[1:])]

little_endian_only = pytest.mark.skipif(
    sys.byteorder != "little", reason="the expected values are for a little-endian host"
)


@given(st.integers(0, 2**16 - 1))
def test_16_bit_pair_is_an_inverse(value: int) -> None:
    assert ntohs(htons(value)) == value
    assert htons(ntohs(value)) == value


@given(st.integers(0, 2**32 - 1))
def test_32_bit_pair_is_an_inverse(value: int) -> None:
    assert ntohl(htonl(value)) == value
    assert htonl(ntohl(value)) == value


@given(st.integers(0, 2**64 - 1))
def test_64_bit_pair_is_an_inverse(value: int) -> None:
    assert ntohll(htonll(value)) == value
    assert htonll(ntohll(value)) == value


@given(st.integers(0, 2**16 - 1))
def test_16_bit_agrees_with_socket(value: int) -> None:
    assert htons(value) == socket.htons(value)
    assert ntohs(value) == socket.ntohs(value)


@given(st.integers(0, 2**32 - 1))
def test_32_bit_agrees_with_socket(value: int) -> None:
    assert htonl(value) == socket.htonl(value)
    assert ntohl(value) == socket.ntohl(value)


@given(st.integers(0, 2**64 - 1))
def test_64_bit_is_the_big_endian_reading_of_host_bytes(value: int) -> None:
    # What a C htonll does: the host's bytes, read as a big-endian number.
    host_bytes = value.to_bytes(8, sys.byteorder)
    assert htonll(value) == int.from_bytes(host_bytes, "big")
    assert htonll(value).to_bytes(8, sys.byteorder) == value.to_bytes(8, "big")


@little_endian_only
def test_known_values_on_little_endian() -> None:
    assert htons(1234) == 53764
    assert htonl(1234) == 3523477504
    assert htonll(1234) == 0xD204_0000_0000_0000
    assert htons(0x0102) == 0x0201
    assert htonl(0x01020304) == 0x04030201
    assert htonll(0x0102030405060708) == 0x0807060504030201


@pytest.mark.parametrize(("func", "bits"), ALL, ids=lambda p: getattr(p, "__name__", str(p)))
def test_range_edges(func: Convert, bits: int) -> None:
    top = 2**bits - 1
    assert func(0) == 0
    assert func(top) == top  # all ones is the same in either order
    with pytest.raises(ValueError, match=rf"{func.__name__}\(\) value -1 is out of range"):
        func(-1)
    with pytest.raises(ValueError, match=rf"{top + 1} is out of range 0\.\.{top}"):
        func(top + 1)


@pytest.mark.parametrize(("func", "bits"), ALL, ids=lambda p: getattr(p, "__name__", str(p)))
def test_huge_values_give_a_short_message(func: Convert, bits: int) -> None:
    with pytest.raises(ValueError, match="out of range") as info:
        func(10**5000)
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("func", [f for f, _ in ALL], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [1.0, True, False, "1", None, b"\x01"])
def test_non_int_is_a_type_error(func: Convert, bad: object) -> None:
    with pytest.raises(TypeError, match=r"takes an int, not"):
        func(bad)  # type: ignore[arg-type]


def test_int_subclass_is_accepted_and_a_plain_int_returned() -> None:
    class Port(enum.IntEnum):
        HTTP = 80

    for func, _bits in ALL:
        result = func(Port.HTTP)
        assert type(result) is int
        assert result == func(80)


@given(st.integers(-(2**70), -1) | st.integers(2**64, 2**70))
def test_out_of_every_range_is_a_value_error(value: int) -> None:
    for func, _bits in ALL:
        with pytest.raises(ValueError, match="out of range"):
            func(value)


def test_exported_from_the_package() -> None:
    assert netkit.htons is htons
    assert netkit.ntohll is ntohll


@little_endian_only
def test_docs_examples_run() -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "byteorder.md"
    if not docs.exists():
        pytest.skip("docs/ not shipped with these tests")
    result = doctest.testfile(str(docs), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 5
