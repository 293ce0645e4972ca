// Package backend opens connections to MariaDB/MySQL servers for client
// sessions.
//
// The handshake and authentication use go-mysql's client. The capability
// flags that change how the server formats its responses (multi-statements,
// found rows, local files, session tracking, EOF style…) are set to exactly
// what the client negotiated with the proxy, by rewriting the handshake
// response on its way out: after the handshake the proxy relays bytes, so both
// ends must speak the same dialect.
//
// A Conn is owned by one session at a time.
package backend
