package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
)

// The error the proxy sends when it cannot use a backend:
// ER_CONNECT_TO_FOREIGN_DATA_SOURCE, "unable to connect to a data source",
// a server error in MySQL and MariaDB alike. Not 2003 (what MySQL Router
// sends): codes 2000-2999 are the client library's own, and libmariadb
// (the mariadb CLI, and Debian's libmysqlclient) turns one that comes from
// a server into "2027 Malformed packet" and drops the message that says
// what to do. HY000, not 08S01: the client's connection stays usable.
const (
	codeCannotConnect  = 1429
	stateCannotConnect = "HY000"
)

// errPrimaryChanged ends a transaction or pinned session whose primary was
// replaced by a failover or switchover.
var errPrimaryChanged = errors.New("the primary changed")

// errToClient is the one place that decides what a client sees for an
// internal error: a MySQL error code, SQLSTATE and a message that says what
// happened and what to do. A backend server's own error passes unchanged.
func errToClient(err error) []byte {
	var be *backend.Error
	var me *mysql.MyError
	switch {
	case errors.As(err, &be) && errors.Is(err, backend.ErrLoginRefused):
		my := loginRefused(be)
		return wire.ErrPacket(my.Code, my.State, my.Message)
	case errors.As(err, &me) && !errors.As(err, &be):
		return wire.ErrPacket(me.Code, me.State, me.Message)
	case errors.As(err, &be) && be.Server != nil:
		return wire.ErrPacket(be.Server.Code, be.Server.State, be.Server.Message)
	case errors.As(err, &be) && errors.Is(err, backend.ErrMisconfigured):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			fmt.Sprintf("switchyard cannot log in to backend %s (%s): %v; fix backend_tls or users in switchyard's config, or the server, then retry; this connection stays usable", be.Name, be.Address, be.Err))
	case errors.As(err, &be) && (errors.Is(err, backend.ErrQueueTimeout) || errors.Is(err, backend.ErrPoolTimeout)):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			fmt.Sprintf("switchyard found backend %s (%s) too busy to take this statement in time (%v); nothing ran: retry the statement, this connection stays usable (or raise pool.max_active_per_backend, pool.max_per_backend or pool.wait_timeout)", be.Name, be.Address, be.Err))
	case errors.As(err, &be):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			fmt.Sprintf("switchyard cannot reach backend %s (%s): %v; retry the statement, this connection stays usable", be.Name, be.Address, be.Err))
	case errors.Is(err, router.ErrNoPrimary):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect, noPrimaryMessage(err))
	case errors.Is(err, errPrimaryChanged):
		return wire.ErrPacket(mysql.ER_NET_READ_ERROR, "08S01",
			"switchyard moved writes to a new primary during this transaction or pinned session; it was rolled back and its session state is gone: reconnect and retry")
	case errors.Is(err, router.ErrNoReplica):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			"switchyard found no replica fresh enough for this read and routing.no_replica is error; retry later or route it to the primary with /* switchyard: primary */")
	default:
		return wire.ErrPacket(mysql.ER_UNKNOWN_ERROR, "HY000", "switchyard: "+err.Error())
	}
}

// maxErrDetail bounds the server-by-server detail of a message: the
// mariadb CLI cuts messages at 512 bytes, and the advice, which comes
// first, must survive.
const maxErrDetail = 300

// noPrimaryMessage says what to do about a missing primary first, then
// what each server looks like. When the servers refuse the monitor's login
// no retry can help, and the message says who must fix what.
func noPrimaryMessage(err error) string {
	detail := strings.TrimPrefix(err.Error(), router.ErrNoPrimary.Error()+": ")
	if strings.Contains(detail, health.MonitorRefusedPrefix) {
		return "switchyard knows no primary because the servers refuse its monitor login: an operator must fix monitor.user/monitor.password in switchyard's config and reload; this connection stays usable"
	}
	if len(detail) > maxErrDetail {
		detail = strings.ToValidUTF8(detail[:maxErrDetail], "") + "…"
	}
	return "switchyard knows no writable primary right now: retry the statement shortly, this connection stays usable (" + detail + ")"
}

// serverRefusal is what a client sees at login when a backend refused the
// session's backend login: the server's own error unchanged (an unknown
// database, a missing grant), except for a refused password, which is the
// proxy's config at fault (loginRefused).
func serverRefusal(be *backend.Error) *mysql.MyError {
	if errors.Is(be, backend.ErrLoginRefused) {
		return loginRefused(be)
	}
	return be.Server
}

// loginRefused is the client's error for backend.ErrLoginRefused: 1429
// (HY000), the code of every "switchyard cannot use a backend" error, and
// not the server's 1045, which the client would read as its own wrong
// password (it was right: the proxy checked it). The advice comes first:
// the mariadb CLI cuts messages at 512 bytes.
func loginRefused(be *backend.Error) *mysql.MyError {
	return &mysql.MyError{Code: codeCannotConnect, State: stateCannotConnect, Message: fmt.Sprintf(
		"switchyard's configured password for this user is refused by backend %s (%s): an operator must fix users[].password in switchyard's config (or the account on the server) and reload; your own login was accepted",
		be.Name, be.Address)}
}
