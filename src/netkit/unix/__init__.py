"""Unix domain sockets (``AF_UNIX``): streams, datagrams and SEQPACKET connections."""
