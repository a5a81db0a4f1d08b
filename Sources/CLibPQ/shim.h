#ifndef BATON_CLIBPQ_SHIM_H
#define BATON_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#include <poll.h>

/// Waits until the connection's socket is readable or `timeout_ms` passes; -1 on error, 0 on timeout.
static inline int baton_pq_wait_readable(PGconn *conn, int timeout_ms) {
    struct pollfd fd = { .fd = PQsocket(conn), .events = POLLIN, .revents = 0 };
    if (fd.fd < 0) return -1;
    return poll(&fd, 1, timeout_ms);
}
#endif
