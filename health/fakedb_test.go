package health

import (
	"errors"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/server"

	"github.com/switchyard/switchyard/health/failover"
	"github.com/switchyard/switchyard/internal/gtid"
)

// fakeDB is a MySQL-protocol server on loopback that answers the probe
// statements from a state the test sets. It checks the monitor's wire path
// (handshake, queries, deadlines, reconnects) hermetically; the real-server
// test checks the SQL against MariaDB.
type fakeDB struct {
	ln  net.Listener
	srv *server.Server

	mu      sync.Mutex
	state   fakeState
	conns   map[net.Conn]struct{}
	accepts int
	done    chan struct{} // closed by close: releases hung queries
	wg      sync.WaitGroup
}

type fakeState struct {
	version  string
	readOnly bool
	gtid     any   // string, or nil for NULL
	status   []row // replica status rows
	hang     bool  // queries block until the fake is closed
	epoch    []row // the switchyard.epoch row; nil: the table does not exist
}

func newFakeDB(t *testing.T, version string, st fakeState) *fakeDB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st.version = version
	f := &fakeDB{
		ln:    ln,
		srv:   server.NewServer(handshakeVersion(version), mysql.DEFAULT_COLLATION_ID, mysql.AUTH_NATIVE_PASSWORD, nil, nil),
		state: st,
		conns: map[net.Conn]struct{}{},
		done:  make(chan struct{}),
	}
	f.wg.Go(f.acceptLoop)
	t.Cleanup(f.close)
	return f
}

// handshakeVersion is what MariaDB puts in its handshake for old clients.
func handshakeVersion(v string) string {
	if gtid.FlavorOf(v) == FlavorMariaDB {
		return "5.5.5-" + v
	}
	return v
}

func (f *fakeDB) addr() string { return f.ln.Addr().String() }

func (f *fakeDB) set(fn func(*fakeState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.state)
}

func (f *fakeDB) acceptCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepts
}

func (f *fakeDB) acceptLoop() {
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[nc] = struct{}{}
		f.accepts++
		f.mu.Unlock()
		f.wg.Go(func() {
			defer func() {
				f.mu.Lock()
				delete(f.conns, nc)
				f.mu.Unlock()
				nc.Close()
			}()
			c, err := f.srv.NewConn(nc, "root", "", fakeHandler{f: f})
			if err != nil {
				return
			}
			for c.HandleCommand() == nil {
			}
		})
	}
}

// dropConns closes every server-side connection, as a server restart does.
func (f *fakeDB) dropConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for nc := range f.conns {
		nc.Close()
	}
}

func (f *fakeDB) close() {
	select {
	case <-f.done:
		return
	default:
	}
	close(f.done)
	f.ln.Close()
	f.dropConns()
	f.wg.Wait()
}

type fakeHandler struct {
	server.EmptyHandler
	f *fakeDB
}

func (h fakeHandler) HandleQuery(q string) (*mysql.Result, error) {
	h.f.mu.Lock()
	st := h.f.state
	h.f.mu.Unlock()
	if st.hang {
		<-h.f.done
		return nil, errors.New("closed")
	}
	d := dialects[gtid.FlavorOf(st.version)]
	switch q {
	case d.stateSQL:
		ro := int64(0)
		if st.readOnly {
			ro = 1
		}
		return result([]string{"version", "read_only", "gtid"}, [][]any{{st.version, ro, st.gtid}})
	case d.replicaStatusSQL:
		cols := map[string]bool{}
		for _, r := range st.status {
			for k := range r {
				cols[k] = true
			}
		}
		names := slices.Sorted(maps.Keys(cols))
		if len(names) == 0 {
			names = []string{d.Host} // an empty result still has columns
		}
		var values [][]any
		for _, r := range st.status {
			vals := make([]any, len(names))
			for i, n := range names {
				if v, ok := r[n]; ok {
					vals[i] = v
				}
			}
			values = append(values, vals)
		}
		return result(names, values)
	case failover.EpochQuery:
		if st.epoch == nil {
			return nil, mysql.NewError(failover.ErNoSuchTable, "Table 'switchyard.epoch' doesn't exist")
		}
		vals := make([][]any, len(st.epoch))
		for i, r := range st.epoch {
			vals[i] = []any{r["epoch"], r["primary_name"]}
		}
		return result([]string{"epoch", "primary_name"}, vals)
	}
	return nil, mysql.NewError(mysql.ER_PARSE_ERROR, "fake: unexpected query "+q)
}

func result(names []string, values [][]any) (*mysql.Result, error) {
	rs, err := mysql.BuildSimpleTextResultset(names, values)
	if err != nil {
		return nil, err
	}
	return mysql.NewResult(rs), nil
}
