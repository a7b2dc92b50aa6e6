"""The ``netkit`` command (also ``python -m netkit``).

Each subcommand lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking
the parsed arguments and returning the exit status. Exit status: 0 on success, 1 when
an operation or check failed, 2 on misuse (bad arguments or input).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import select
import sys
from collections.abc import Sequence

from netkit._version import __version__
from netkit.errors import NetkitError

__all__ = ["EXIT_FAILED", "EXIT_MISUSE", "EXIT_OK", "Failed", "Misuse", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_MISUSE = 2

# Subcommand modules, in the order `netkit --help` lists them.
_COMMANDS = ("demo", "serve", "connect", "listen", "udp", "check", "lookup", "ping", "bench")


class Misuse(Exception):
    """Raised by a subcommand for bad arguments; reported on one line, exit status 2."""


class Failed(Exception):
    """Raised by a subcommand when an operation failed; its message is the one line
    reported on stderr (it names what failed), exit status 1."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_MISUSE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser, one subparser per available subcommand."""
    parser = _Parser(
        prog="netkit",
        description="Typed, safe TCP/UDP sockets: a toolbox and a demo.",
        epilog="Run 'netkit COMMAND --help' for the options and an example of each command.",
    )
    parser.add_argument("--version", action="version", version=f"netkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"netkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"netkit.cli.{name}":
                raise
            continue  # a subcommand not built yet
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_MISUSE
    # The library's logger has a NullHandler, so without this the servers' warnings and
    # errors would go nowhere; the command owns its process and prints them as the
    # library printed them before (message only, WARNING and up, on stderr). A no-op
    # when the application (or a test harness) configured logging already.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    try:
        status: int = func(args)
        # Flush here, not at interpreter exit, so that a reader gone away (`| head`)
        # is handled below instead of printing "Exception ignored ... BrokenPipeError".
        sys.stdout.flush()
    except KeyboardInterrupt:
        # Ctrl-C is a normal way to stop a server or a netcat session: no traceback.
        print("interrupted", file=sys.stderr)
        return 130
    except Misuse as exc:
        from netkit.cli._common import safe_text

        print(f"netkit {args.command}: error: {safe_text(str(exc))}", file=sys.stderr)
        return EXIT_MISUSE
    except Failed as exc:
        from netkit.cli._common import safe_text

        # An error may quote what a peer sent (a certificate's name, a reply).
        print(f"netkit {args.command}: {safe_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except (NetkitError, OSError) as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            # The reader of stdout went away (`netkit ... | head`): stop quietly, as a
            # program killed by SIGPIPE would, and point stdout at /dev/null so that the
            # interpreter's final flush has nowhere to fail.
            _silence_stdout()
            return EXIT_FAILED
        from netkit.cli._common import reason, safe_text

        # Without "[Errno N]": the subcommands raise Failed with the context (the
        # address, the file) where they can; this is the last resort.
        print(f"netkit {args.command}: {safe_text(reason(exc))}", file=sys.stderr)
        return EXIT_FAILED
    return status


def _stdout_gone() -> bool:
    """True when stdout is a pipe or socket whose reader has gone away.

    Tells a BrokenPipeError on stdout (quiet) from one on a socket (a failure to
    report). Where this cannot be checked (no poll(), no real stdout) it says False,
    so an error is never hidden.
    """
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def _silence_stdout() -> None:
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
