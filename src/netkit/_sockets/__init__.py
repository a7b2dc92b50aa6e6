"""Socket set-up shared by the sync and asyncio faces: create, configure, bind, listen.

Everything here makes system calls that never wait (a non-blocking connect is only
started), so both faces can call it; the decisions it applies come from
:mod:`netkit._core`. Neither face imports the other: what they share lives here or in
the core.
"""
