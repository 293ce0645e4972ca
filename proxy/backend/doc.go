// Package backend opens connections to MariaDB/MySQL servers for client
// sessions.
//
// The proxy runs the client side of the connection phase itself
// (handshake.go), with go-mysql's scramble algorithms: the capability flags
// that change how the server formats its responses (multi-statements, found
// rows, local files, session tracking, EOF style…) and the collation are set
// to exactly what the client negotiated with the proxy, because after the
// handshake the proxy relays bytes and both ends must speak the same dialect;
// the connection is upgraded to TLS as the backend's TLS policy says
// (disabled, preferred, required, verify_ca, verify_identity); and a user
// whose config holds only a mysql_native_password hash logs in with
// SHA1(password). go-mysql's client could do none of the three.
//
// A Pool holds the connections of one backend for one user and dialect; a
// Gate, shared by all the pools of a backend, bounds how many of them are
// lent at once and queues the other borrows first come, first served
// (gate.go says why).
//
// Errors: a server's refusal is an *Error with Server set; ErrMisconfigured
// marks a TLS policy or credential that does not fit the server, which
// retrying cannot fix; ErrPoolTimeout and ErrQueueTimeout mean the backend
// stayed busy for the wait timeout (nothing was sent); anything else means
// the server could not be reached.
//
// A Conn is owned by one session at a time; a Pool and a Gate are safe for
// concurrent use.
package backend
