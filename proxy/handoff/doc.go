// Package handoff carries a running switchyard's listeners and client
// sessions to a new switchyard process (switchyard upgrade, SIGUSR2).
//
// The two processes talk over a SOCK_SEQPACKET socket pair that the old
// process creates and passes to the new one as an extra file (the
// environment variable SWITCHYARD_HANDOFF_FD names its descriptor). Each
// message is one packet: a JSON header (Msg) and, in the same packet, the
// file descriptors it carries (SCM_RIGHTS). A packet socket keeps message
// boundaries, so a descriptor always arrives with the header that names it.
//
// The conversation, old process (parent) to new (child):
//
//	child → hello{version, pid}
//	parent → reject{err} (version mismatch: the child exits) or
//	         listeners{epoch} + the listening sockets
//	child → ready (it accepts on them)            the parent stops accepting
//	parent → session{image} + client and backend sockets
//	child → ack{id} or nack{id, err}              (one per session)
//	parent → ping, child → ack                    the child is alive: commit
//	parent → session… (those that were mid-command, for a second window)
//	parent → done, child → ack                    the parent exits
//
// Any failure before ready is a rollback: the parent goes on accepting
// and serving, the child is killed. After ready, a session the child
// refuses (nack) stays in the old process, which serves it until it ends.
//
// This package knows nothing of sessions: it moves bytes and descriptors.
// What a session image holds, and the version it must match, belong to
// package proxy (proxy/handoff.go). Concurrency: a Conn's Send and Recv may
// be called from different goroutines, each by one at a time.
package handoff
