// Package proxy is the client side of Switchyard: the listener, the MySQL
// handshake and authentication (go-mysql's server package, built once per
// process), and one session per client connection that reads commands,
// asks the router where they run, forwards them to a backend connection and
// streams the response back packet by packet.
//
// Concurrency: Server.Serve runs one goroutine per client connection. A
// Session's fields belong to that goroutine; other goroutines only touch a
// session through its kill method (KILL from another client, shutdown),
// which closes sockets and nothing else, and requestMove (an upgrade,
// handoff.go), which only sets a flag and a past read deadline; the
// session's own goroutine exports it between two commands.
//
// Memory: a session holds small buffers while idle and never materializes a
// result set, so a slow client slows its backend down (TCP back-pressure)
// rather than making the proxy buffer.
package proxy
