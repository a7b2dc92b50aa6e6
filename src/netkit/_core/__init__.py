"""netkit's IO-free core: every decision about streams, datagrams, connects and accepts.

The sync face (:mod:`netkit.tcp`, :mod:`netkit.udp`) and the asyncio face
(:mod:`netkit.aio`) only *wait* (threads and ``poll``, or the event loop) and call in
here for everything else, so that the same input gives the same result, exception type
and message in both. Nothing in this package touches a socket or a clock of its own;
clocks are passed in.

=================  =====================================================================
module             decides
=================  =====================================================================
``checks``         argument rules and their messages (sizes, timeouts, ports, hosts)
``deadline``       whole-call deadlines and the timeout errors they raise
``oserrors``       the one table turning OS/ssl errors into netkit errors
``sockaddr``       socket addresses to :class:`~netkit.Endpoint` (one home), families per class
``stream``         the stream reader: buffer, EOF policy, read requests and their errors
``connect``        the connect planner: argument checks, Happy Eyeballs, ConnectFailed
``accept``         the accept-error policy: which errnos, back-off, bounded logging
``datagram``       datagram rules: sizes, truncation, targets, ``Datagram``
``unixpath``       Unix socket addresses: paths, abstract names, limits, messages
``unixdatagram``   Unix datagram sizes, senders, missing peers; bind/connect messages
``seqpacket``      SEQPACKET messages: limits, end of connection, errors, credentials
``icmp``           ICMP echo (ping): packets, checksums, matching replies, the schedule
``server``         server argument rules and defaults, how handler errors are logged
``limits``         servers' and reads' finite defaults, with the measurements behind them
``proxyserve``     ``proxy_protocol=``: trusted peers, peeking the header, drops logged
``unix``           Unix streams: credentials, passing descriptors, binds, connects
``activation``     socket activation: the inherited listeners that are ours
``sockopt``        raw socket options by (level, name): arguments, option names, errors
``conformance``    the table of situations every stream transport must pass
``messages``       the table of situations every message connection must pass
``fakenet``        the testing kit's fake datagram network: addresses, seeded faults
``memory``         the testing kit's in-memory stream (memory pairs), in TCP's states
=================  =====================================================================

Socket set-up that both faces share and that never waits (create, set options, bind,
listen, start a non-blocking connect) lives beside it in :mod:`netkit._sockets`.
"""
