package proxy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

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
	case errors.As(err, &me) && !errors.As(err, &be):
		return wire.ErrPacket(me.Code, me.State, me.Message)
	case errors.As(err, &be) && be.Server != nil:
		return wire.ErrPacket(be.Server.Code, be.Server.State, be.Server.Message)
	case errors.As(err, &be) && errors.Is(err, backend.ErrMisconfigured):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			fmt.Sprintf("switchyard cannot log in to backend %s (%s): %v; fix backend_tls or users in switchyard's config, or the server, then retry; this connection stays usable", be.Name, be.Address, be.Err))
	case errors.As(err, &be):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			fmt.Sprintf("switchyard cannot reach backend %s (%s): %v; retry the statement, this connection stays usable", be.Name, be.Address, be.Err))
	case errors.Is(err, router.ErrNoPrimary):
		return wire.ErrPacket(codeCannotConnect, stateCannotConnect,
			"switchyard knows no writable primary right now ("+strings.TrimPrefix(err.Error(), router.ErrNoPrimary.Error()+": ")+"); retry the statement shortly, this connection stays usable")
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
