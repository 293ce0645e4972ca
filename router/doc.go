// Package router decides where a statement may run. The decision is a pure
// function of the statement's class, the session's state and an immutable
// topology snapshot: no I/O and no locks, so it is safe to call from any
// number of sessions at once.
//
// Until read/write split lands every statement goes to the primary.
package router
