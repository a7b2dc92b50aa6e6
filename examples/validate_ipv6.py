"""Validating an IPv6 address typed into a web form, the way a careful server does.

A form field arrives as arbitrary text: surrounding spaces, a trailing newline, a zone
(``%eth0``) that makes no sense off this machine, brackets copied from a URL, or
megabytes of junk. The rule: strip what a person would not notice, then accept only
what ``inet_pton`` would, store the canonical RFC 5952 form (so ``2001:DB8::0:1`` and
``2001:db8::1`` are one value), and refuse addresses that can never be a public target
(loopback, link-local, private, documentation...) when the form asks for one.

    python examples/validate_ipv6.py                 # checks a table of inputs
    python examples/validate_ipv6.py '2001:db8::1'   # checks yours
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from netkit import is_global, is_ipv6, normalize_ip

MAX_FIELD = 100  # longer than any IPv6 text (45 chars + zone); refuse before parsing


@dataclass(frozen=True)
class FieldResult:
    """What the form shows: the value to store, or an error for the user."""

    value: str | None = None
    error: str | None = None


def clean_ipv6_field(raw: str, *, public_only: bool = True) -> FieldResult:
    """Validate one form field that must hold an IPv6 address."""
    if len(raw) > MAX_FIELD:
        return FieldResult(error="too long to be an IPv6 address")
    text = raw.strip()  # a person does not see spaces or a newline at the ends
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]  # pasted from a URL
    if not text:
        return FieldResult(error="enter an IPv6 address")
    if "%" in text:
        # A zone names an interface of *this* machine: meaningless in stored data.
        return FieldResult(error="remove the zone (the part after %)")
    if not is_ipv6(text):  # strict: what inet_pton accepts, and never raises
        if text.count(".") == 3 and ":" not in text:
            return FieldResult(error="that is an IPv4 address; an IPv6 address is needed")
        return FieldResult(error="not a valid IPv6 address")
    canonical = normalize_ip(text)
    if public_only and not is_global(canonical):
        return FieldResult(error=f"{canonical} is not a public address")
    return FieldResult(value=canonical)


EXAMPLES = [
    ("2606:4700:4700::1111", "2606:4700:4700::1111", None),
    ("  2606:4700:4700:0:0:0:0:1111\n", "2606:4700:4700::1111", None),
    ("[2a00:1450:4001:0829::200E]", "2a00:1450:4001:829::200e", None),
    ("2001:db8::1", None, "not a public address"),
    ("::1", None, "not a public address"),
    ("::ffff:10.0.0.1", None, "not a public address"),
    ("fe80::1%eth0", None, "remove the zone"),
    ("192.0.2.1", None, "that is an IPv4 address"),
    ("2001:db8::g", None, "not a valid IPv6 address"),
    ("1::2::3", None, "not a valid IPv6 address"),
    ("", None, "enter an IPv6 address"),
    ("a" * 10_000, None, "too long"),
]


def main(argv: list[str]) -> int:
    if argv:
        result = clean_ipv6_field(argv[0])
        print(result.value if result.value else f"error: {result.error}")
        return 0 if result.value else 1
    ok = True
    for raw, value, error in EXAMPLES:
        result = clean_ipv6_field(raw)
        good = result.value == value and (error is None or error in (result.error or ""))
        ok = ok and good
        shown = raw if len(raw) < 40 else raw[:20] + f"... ({len(raw)} chars)"
        outcome = result.value or f"error: {result.error}"
        print(f"{'ok ' if good else 'BAD'} {shown!r:40} -> {outcome}")
    print("ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
