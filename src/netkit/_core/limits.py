"""The finite defaults of servers and reads, each with the measurement or arithmetic behind it.

Every number a user would otherwise have to know to put a server on the internet lives
here, once; the servers, the read methods and the docs (``docs/internet.md``) use these.
IO-free: the kernel's ``somaxconn`` is read by :mod:`netkit._sockets.listen` and passed
to :func:`backlog_for`.

Measured on the development machine (2 shared cores, Linux 6.x, CPython 3.11) with
``python bench/bench_limits.py``: one echo round (a 64-byte line to every connection,
then every echo back) over N busy connections; the median round and the p99 latency:

=====  =========================  ================  ================
N      sync (thread per conn.)    asyncio           uvloop
=====  =========================  ================  ================
500    49 ms, p99 53 ms           10 ms, p99 10 ms  9 ms, p99 15 ms
1000   108 ms, p99 142 ms         34 ms, p99 40 ms  18 ms, p99 20 ms
2000   352 ms, p99 708 ms         80 ms, p99 81 ms  82 ms, p99 159 ms
4000   4.9 s, p99 7.4 s           131 ms, 152 ms    103 ms, 105 ms
8000   35 s, p99 43 s             234 ms, 257 ms    499 ms, 589 ms
=====  =========================  ================  ================

The thread-per-connection engine is linear up to about 1000 busy connections (about
0.1 ms per connection per round), super-linear at 2000 and collapses past it (GIL
hand-offs and scheduler work grow faster than the thread count), as socketserver does.
The event loop stays linear (about 0.03 ms per connection per round).
"""

from __future__ import annotations

__all__ = [
    "AIO_MAX_CONNECTIONS",
    "BACKLOG",
    "MAX_FRAME",
    "MAX_LINE",
    "MAX_READ",
    "SEND_TIMEOUT",
    "SYNC_MAX_CONNECTIONS",
    "backlog_for",
]

#: The sync servers' default ``max_connections``: below the thread-per-connection
#: engine's collapse (above), where a round over every connection still costs about
#: 0.1 ms per connection. Further clients wait in the listen backlog, never accepted
#: and dropped.
SYNC_MAX_CONNECTIONS = 1000
#: The asyncio servers' default ``max_connections``. The event loop degrades linearly
#: rather than collapsing (8000 busy connections: a round in 0.25 s), so the cap is set
#: by worst-case memory (2000 x :data:`MAX_FRAME` = 2 GiB), not by latency.
AIO_MAX_CONNECTIONS = 2000

#: The default listen backlog: room for a burst of simultaneous connects. With 128, a
#: burst of 2000 connects had a p50 connect time of 1 s and a p99 of 1-2 s (SYNs dropped
#: and retransmitted after 1 s, 3 s...); with 4096, p99 48-54 ms in every face
#: (``bench_limits.py --burst 2000``). Linux caps any backlog at
#: ``net.core.somaxconn`` (4096 since Linux 5.4), so the default is capped there too
#: and says what the kernel does.
BACKLOG = 4096

#: The default ``send_timeout`` of servers (seconds a send waits with the peer taking
#: nothing; restarts whenever the peer reads). A minute is what common web servers
#: allow a reader (nginx's ``send_timeout``); a peer that stops reading for that long
#: is released with its handler.
SEND_TIMEOUT = 60.0

#: Default limit for a line or delimited message, delimiter excluded (64 KiB):
#: 64 MiB at the sync default of 1000 connections, 128 MiB at the asyncio default.
MAX_LINE = 64 * 1024
#: Default limit for a length-prefixed frame's payload (1 MiB). Worst case, every
#: connection of a server at its default cap holds one frame just under the limit:
#: 1000 x 1 MiB = 1 GiB (sync), 2000 x 1 MiB = 2 GiB (asyncio). The former default,
#: 16 MiB, let 40 clients grow a server by 640 MiB and 1000 by 16 GiB. Protocols with
#: bigger messages pass ``max_size=`` (and a lower ``max_connections``).
MAX_FRAME = 1024 * 1024
#: Default limit for reading a whole stream to EOF (``recv_all``; 1 MiB), by the same
#: arithmetic as :data:`MAX_FRAME`: a download of a known big body passes ``max_bytes=``.
MAX_READ = 1024 * 1024


def backlog_for(somaxconn: int | None) -> int:
    """The default backlog given the kernel's ``somaxconn`` (None: not known).

    :data:`BACKLOG`, or less when the kernel would cap it anyway.
    """
    if somaxconn is None or somaxconn <= 0:
        return BACKLOG
    return min(BACKLOG, somaxconn)
