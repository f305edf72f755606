// UnusedLoopbackPort: a TCP port on 127.0.0.1 that a test can give to a server
// it is about to start (a separate process, or a server that must be told its
// address before it binds).
//
// Why not bind to port 0 and read the port back: the kernel hands out port-0
// binds from the ephemeral range, the same range every outgoing connection
// takes its local port from. Between picking a port and the server binding
// it, any connection on the machine (the cluster's own peers dialling each
// other) may take it, and the server then fails with "Address already in
// use". So the ports come from below the ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), where the kernel never
// allocates on its own.
//
// Invariants: a port is returned at most once per process; it was free (a
// bind without SO_REUSEADDR succeeded) when returned. Two test processes
// picking at the same instant could still collide; each starts its search at
// a different point (seeded by pid and time) to make that unlikely.
// Thread-safe.
#pragma once

namespace raftkv::testing {

// Returns an unused port, or aborts the test binary if none is found.
int UnusedLoopbackPort();

}  // namespace raftkv::testing
