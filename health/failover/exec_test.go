package failover

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/gtid"
)

// fakeServer interprets the statements the executor sends, on a small model
// of a server's replication state, and records them. It checks the order
// and the text of the generated SQL; the real-server tests check that
// MariaDB accepts it.
type fakeServer struct {
	name, addr string
	flavor     Flavor

	mu                  sync.Mutex
	down                bool
	readOnly, superRO   bool
	source              string // host:port; "" when not replicating
	ioRunning, sqlRun   bool
	ioErrno             string
	received, executed  string
	epoch               uint64
	epochPrimary        string
	table               bool
	lockedElsewhere     bool
	waitResult          string // "" is success ("0")
	startFailsWithErrno string // START SLAVE leaves this I/O errno
	failOn              string // a statement with this prefix fails (a server error)
}

type fakeNet struct {
	servers map[string]*fakeServer // by address
	mu      sync.Mutex
	steps   []string
}

func newFakeNet(servers ...*fakeServer) *fakeNet {
	n := &fakeNet{servers: map[string]*fakeServer{}}
	for _, s := range servers {
		n.servers[s.addr] = s
	}
	return n
}

func (n *fakeNet) dial(_ context.Context, t Target) (Conn, error) {
	addr := t.Address
	s, ok := n.servers[addr]
	if !ok || s.isDown() {
		return nil, fmt.Errorf("dial tcp %s: connect: connection refused", addr)
	}
	return &fakeConn{s: s, n: n}, nil
}

func (s *fakeServer) isDown() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.down }

type fakeConn struct {
	s *fakeServer
	n *fakeNet
}

func (c *fakeConn) Close() error { return nil }

func (c *fakeConn) Exec(ctx context.Context, sql string) (uint64, error) {
	n, _, err := c.do(sql)
	return n, err
}

func (c *fakeConn) Query(ctx context.Context, sql string) ([]Row, error) {
	_, rows, err := c.do(sql)
	return rows, err
}

var (
	reChange   = regexp.MustCompile(`(?:MASTER|SOURCE)_HOST = '([^']*)', (?:MASTER|SOURCE)_PORT = (\d+)`)
	reWait     = regexp.MustCompile(`^SELECT (?:MASTER_GTID_WAIT|WAIT_FOR_EXECUTED_GTID_SET)\('([^']*)'`)
	reUpdEpoch = regexp.MustCompile(`SET epoch = (\d+), primary_name = '([^']*)'.* AND epoch = (\d+)$`)
	reInsEpoch = regexp.MustCompile(`VALUES \(1, (\d+), '([^']*)'`)
)

func (c *fakeConn) do(sql string) (uint64, []Row, error) {
	s := c.s
	d := dialects[s.flavor]
	c.n.mu.Lock()
	c.n.steps = append(c.n.steps, s.name+": "+redact(sql))
	c.n.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failOn != "" && strings.HasPrefix(sql, s.failOn) {
		return 0, nil, &mysql.MyError{Code: 1290, Message: "fake: injected failure"}
	}
	one := func(k, v string) []Row { return []Row{{k: v}} }
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	switch {
	case strings.HasPrefix(sql, "SET SESSION wait_timeout"):
		return 0, nil, nil
	case strings.HasPrefix(sql, "SELECT GET_LOCK("):
		return 0, one("l", b(!s.lockedElsewhere)), nil
	case sql == "SELECT @@read_only AS ro":
		return 0, one("ro", b(s.readOnly)), nil
	case sql == d.replicaStatusSQL:
		if s.source == "" {
			return 0, nil, nil
		}
		h, p, _ := net.SplitHostPort(s.source)
		yes := func(v bool) string {
			if v {
				return "Yes"
			}
			return "No"
		}
		return 0, []Row{{d.Host: h, d.Port: p, d.Received: s.received, d.IORunning: yes(s.ioRunning),
			d.SQLRunning: yes(s.sqlRun), d.IOErrno: s.ioErrno}}, nil
	case sql == EpochQuery:
		if !s.table {
			return 0, nil, &mysql.MyError{Code: ErNoSuchTable, Message: "no table"}
		}
		if s.epoch == 0 {
			return 0, nil, nil
		}
		return 0, []Row{{"epoch": strconv.FormatUint(s.epoch, 10), "primary_name": s.epochPrimary}}, nil
	case sql == d.fence:
		s.readOnly, s.superRO = true, s.flavor == MySQL
		return 0, nil, nil
	case sql == executedSQL(s.flavor) || sql == d.binlogPosSQL:
		return 0, one("gtid", s.executed), nil
	case reWait.MatchString(sql):
		r := s.waitResult
		if r == "" {
			r = "0"
			s.executed = gtid.MustParse(s.executed).Merge(gtid.MustParse(reWait.FindStringSubmatch(sql)[1])).String()
		}
		return 0, one("r", r), nil
	case sql == d.stopReplica:
		s.ioRunning, s.sqlRun = false, false
		return 0, nil, nil
	case sql == d.resetReplica:
		s.source = ""
		return 0, nil, nil
	case sql == "SET GLOBAL super_read_only = 0":
		s.superRO = false
		return 0, nil, nil
	case sql == createEpochDB:
		return 0, nil, nil
	case sql == createEpochTable:
		s.table = true
		return 0, nil, nil
	case strings.HasPrefix(sql, "INSERT INTO switchyard.epoch"):
		if s.epoch > 0 {
			return 0, nil, &mysql.MyError{Code: erDupEntry, Message: "Duplicate entry '1'"}
		}
		m := reInsEpoch.FindStringSubmatch(sql)
		s.epoch, _ = strconv.ParseUint(m[1], 10, 64)
		s.epochPrimary = m[2]
		return 1, nil, nil
	case strings.HasPrefix(sql, "UPDATE switchyard.epoch"):
		m := reUpdEpoch.FindStringSubmatch(sql)
		if prev, _ := strconv.ParseUint(m[3], 10, 64); prev != s.epoch {
			return 0, nil, nil
		}
		s.epoch, _ = strconv.ParseUint(m[1], 10, 64)
		s.epochPrimary = m[2]
		return 1, nil, nil
	case sql == d.open:
		s.readOnly, s.superRO = false, false
		return 0, nil, nil
	case strings.HasPrefix(sql, "SET GLOBAL gtid_slave_pos"), strings.Contains(sql, "rpl_semi_sync"):
		return 0, nil, nil
	case reChange.MatchString(sql):
		m := reChange.FindStringSubmatch(sql)
		s.source = net.JoinHostPort(m[1], m[2])
		return 0, nil, nil
	case sql == d.startReplica:
		s.ioRunning, s.sqlRun, s.ioErrno = true, true, ""
		if s.startFailsWithErrno != "" {
			s.ioRunning, s.ioErrno = false, s.startFailsWithErrno
		}
		return 0, nil, nil
	}
	return 0, nil, &mysql.MyError{Code: 1064, Message: "fake: unexpected statement " + sql}
}

// topology: db1 primary at 10.0.0.1:3306 (down unless alive), db2 and db3
// replicas of it.
func topology(f Flavor, alive bool) (db1, db2, db3 *fakeServer) {
	pos := func(maria, my string) string {
		if f == MySQL {
			return my
		}
		return maria
	}
	db1 = &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: f, down: !alive,
		executed: pos("0-1-12", uuidA+":1-12")}
	db2 = &fakeServer{name: "db2", addr: "10.0.0.2:3306", flavor: f, readOnly: true, superRO: f == MySQL,
		source: db1.addr, sqlRun: true, received: pos("0-1-12", uuidA+":1-12"), executed: pos("0-1-10", uuidA+":1-10")}
	db3 = &fakeServer{name: "db3", addr: "10.0.0.3:3306", flavor: f, readOnly: true, superRO: f == MySQL,
		source: db1.addr, sqlRun: true, received: pos("0-1-11", uuidA+":1-11"), executed: pos("0-1-11", uuidA+":1-11")}
	return db1, db2, db3
}

func target(s *fakeServer) Target { return Target{Name: s.name, Address: s.addr} }

func plan(f Flavor, kind Kind, db1, db2, db3 *fakeServer) Plan {
	return Plan{
		Kind: kind, Flavor: f, From: target(db1), To: target(db2), Others: []Target{target(db3)},
		Guard: []Target{target(db3), target(db2)}, GuardQuorum: 2,
		CatchupWait: 10 * time.Second, By: "proxy-a",
	}
}

func TestExecuteFailover(t *testing.T) {
	tests := []struct {
		flavor Flavor
		steps  []string
	}{
		{MariaDB, []string{
			"db2: SET SESSION wait_timeout = 40",
			"db2: SELECT GET_LOCK('switchyard.failover', 0) AS l",
			"db3: SET SESSION wait_timeout = 40",
			"db3: SELECT GET_LOCK('switchyard.failover', 0) AS l",
			"db3: SELECT @@read_only AS ro",
			"db3: SHOW SLAVE STATUS",
			"db3: " + EpochQuery,
			"db2: SELECT @@read_only AS ro",
			"db2: SHOW SLAVE STATUS",
			"db2: " + EpochQuery,
			"db2: SELECT MASTER_GTID_WAIT('0-1-12', 10.000) AS r, @@gtid_current_pos AS gtid",
			"db2: SELECT @@gtid_current_pos AS gtid",
			"db2: " + EpochQuery,
			"db2: STOP SLAVE",
			"db2: RESET SLAVE ALL",
			"db2: " + createEpochDB,
			"db2: " + createEpochTable,
			"db2: INSERT INTO switchyard.epoch (id, epoch, primary_name, primary_address, promoted_by, promoted_at) " +
				"VALUES (1, 1, 'db2', '10.0.0.2:3306', 'proxy-a', NOW(6))",
			"db2: SET GLOBAL read_only = 0",
			"db3: STOP SLAVE",
			"db3: CHANGE MASTER TO MASTER_HOST = '10.0.0.2', MASTER_PORT = 3306, MASTER_USE_GTID = slave_pos",
			"db3: START SLAVE",
		}},
		{MySQL, []string{
			"db2: SET SESSION wait_timeout = 40",
			"db2: SELECT GET_LOCK('switchyard.failover', 0) AS l",
			"db3: SET SESSION wait_timeout = 40",
			"db3: SELECT GET_LOCK('switchyard.failover', 0) AS l",
			"db3: SELECT @@read_only AS ro",
			"db3: SHOW REPLICA STATUS",
			"db3: " + EpochQuery,
			"db2: SELECT @@read_only AS ro",
			"db2: SHOW REPLICA STATUS",
			"db2: " + EpochQuery,
			"db2: SELECT WAIT_FOR_EXECUTED_GTID_SET('" + uuidA + ":1-12', 10.000) AS r, @@GLOBAL.gtid_executed AS gtid",
			"db2: SELECT @@GLOBAL.gtid_executed AS gtid",
			"db2: " + EpochQuery,
			"db2: STOP REPLICA",
			"db2: RESET REPLICA ALL",
			"db2: SET GLOBAL super_read_only = 0",
			"db2: " + createEpochDB,
			"db2: " + createEpochTable,
			"db2: INSERT INTO switchyard.epoch (id, epoch, primary_name, primary_address, promoted_by, promoted_at) " +
				"VALUES (1, 1, 'db2', '10.0.0.2:3306', 'proxy-a', NOW(6))",
			"db2: SET GLOBAL read_only = 0",
			"db3: STOP REPLICA",
			"db3: CHANGE REPLICATION SOURCE TO SOURCE_HOST = '10.0.0.2', SOURCE_PORT = 3306, SOURCE_AUTO_POSITION = 1",
			"db3: START REPLICA",
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.flavor), func(t *testing.T) {
			db1, db2, db3 := topology(tt.flavor, false)
			n := newFakeNet(db1, db2, db3)
			p := plan(tt.flavor, KindFailover, db1, db2, db3)
			p.Acked = gtid.MustParse(db2.received)
			res, err := Execute(t.Context(), p, n.dial, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Promoted || res.Epoch != 1 || !res.CaughtUp || res.Missing != 0 || strings.Join(res.Repointed, ",") != "db3" {
				t.Errorf("result = %+v", res)
			}
			if got, want := strings.Join(n.steps, "\n"), strings.Join(tt.steps, "\n"); got != want {
				t.Errorf("statements:\n%s\nwant:\n%s", got, want)
			}
			if strings.Join(res.Steps, "\n") != strings.Join(n.steps, "\n") {
				t.Errorf("Result.Steps differ from what was run:\n%s", strings.Join(res.Steps, "\n"))
			}
			if db2.readOnly || db2.superRO || db2.source != "" || db2.epoch != 1 || db2.epochPrimary != "db2" {
				t.Errorf("new primary: %+v", db2)
			}
			if db3.source != db2.addr || !db3.ioRunning {
				t.Errorf("other replica: %+v", db3)
			}
		})
	}
}

func TestExecuteRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(db1, db2, db3 *fakeServer, p *Plan)
		want  error
		msg   string
	}{
		{"lock held by another proxy", func(_, _, db3 *fakeServer, _ *Plan) { db3.lockedElsewhere = true },
			ErrGuard, "locked 1 of 2 servers, need 2"},
		{"too few servers reachable", func(_, _, db3 *fakeServer, _ *Plan) { db3.down = true }, ErrGuard, "connection refused"},
		{"another server already promoted", func(_, _, db3 *fakeServer, _ *Plan) { db3.readOnly, db3.source = false, "" },
			ErrStale, "db3 (10.0.0.3:3306) is already writable"},
		{"a newer epoch was recorded", func(_, _, db3 *fakeServer, _ *Plan) { db3.table, db3.epoch = true, 1 },
			ErrStale, "recorded epoch 1, newer than 0"},
		{"candidate moved to another source", func(_, db2, _ *fakeServer, _ *Plan) { db2.source = "10.0.0.3:3306" },
			ErrStale, "replicates from 10.0.0.3:3306"},
		{"candidate not locked", func(_, _, _ *fakeServer, p *Plan) { p.GuardQuorum = 1; p.Guard = p.Guard[:1] },
			ErrGuard, "not among the locked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db1, db2, db3 := topology(MariaDB, false)
			p := plan(MariaDB, KindFailover, db1, db2, db3)
			tt.setup(db1, db2, db3, &p)
			res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want %v ~%q", err, tt.want, tt.msg)
			}
			if res.Promoted || res.Epoch != 0 || db2.source == "" || !db2.readOnly {
				t.Errorf("something changed: %+v, db2 %+v", res, db2)
			}
		})
	}
}

func TestExecuteReportsMissingAcknowledged(t *testing.T) {
	db1, db2, db3 := topology(MariaDB, false)
	db2.received = "0-1-10" // it never got 11 and 12
	p := plan(MariaDB, KindFailover, db1, db2, db3)
	p.Acked = gtid.MustParse("0-1-12")
	res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
	if err != nil || !res.Promoted || res.Missing != 2 {
		t.Fatalf("res %+v err %v; want promoted with 2 missing", res, err)
	}
}

func TestExecuteCatchupTimeout(t *testing.T) {
	t.Run("failover promotes anyway", func(t *testing.T) {
		db1, db2, db3 := topology(MariaDB, false)
		db2.waitResult = "-1"
		p := plan(MariaDB, KindFailover, db1, db2, db3)
		p.Acked = gtid.MustParse("0-1-12")
		res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
		if err != nil || !res.Promoted || res.CaughtUp || res.Missing != 2 {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
	t.Run("switchover undoes", func(t *testing.T) {
		db1, db2, db3 := topology(MariaDB, true)
		db2.waitResult = "-1"
		p := plan(MariaDB, KindSwitchover, db1, db2, db3)
		p.Repl = ReplCredentials{User: "repl", Password: "secret"}
		res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
		if !errors.Is(err, ErrCatchup) || res.Promoted || len(res.Changed) != 0 {
			t.Fatalf("res %+v err %v", res, err)
		}
		if db1.readOnly || db2.source != db1.addr || db2.epoch != 0 || db3.source != db1.addr {
			t.Errorf("not undone: db1 %+v db2 %+v", db1, db2)
		}
	})
}

func TestExecuteSwitchover(t *testing.T) {
	db1, db2, db3 := topology(MariaDB, true)
	n := newFakeNet(db1, db2, db3)
	p := plan(MariaDB, KindSwitchover, db1, db2, db3)
	p.Repl = ReplCredentials{User: "repl", Password: "secret"}
	p.SemiSync = true
	res, err := Execute(t.Context(), p, n.dial, nil)
	if err != nil || !res.Promoted || res.Epoch != 1 || strings.Join(res.Repointed, ",") != "db3,db1" {
		t.Fatalf("res %+v err %v", res, err)
	}
	steps := strings.Join(n.steps, "\n")
	for _, want := range []string{
		"db1: SET GLOBAL read_only = 1\ndb1: SELECT @@gtid_binlog_pos AS gtid\ndb2: SELECT MASTER_GTID_WAIT('0-1-12', 10.000) AS r, @@gtid_current_pos AS gtid",
		"db2: SET GLOBAL read_only = 0\ndb2: SET GLOBAL rpl_semi_sync_master_enabled = 1\ndb2: SET GLOBAL rpl_semi_sync_slave_enabled = 0",
		"db1: STOP SLAVE\ndb1: SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos\n" +
			"db1: CHANGE MASTER TO MASTER_HOST = '10.0.0.2', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = '***', MASTER_USE_GTID = slave_pos\n" +
			"db1: SET GLOBAL rpl_semi_sync_master_enabled = 0\ndb1: SET GLOBAL rpl_semi_sync_slave_enabled = 1\ndb1: START SLAVE",
	} {
		if !strings.Contains(steps, want) {
			t.Errorf("statements lack\n%s\nin\n%s", want, steps)
		}
	}
	if strings.Contains(steps, "secret") {
		t.Error("the replication password was recorded")
	}
	if !db1.readOnly || db1.source != db2.addr || db2.readOnly || db2.epochPrimary != "db2" {
		t.Errorf("db1 %+v db2 %+v", db1, db2)
	}

	t.Run("without a replication account nothing is done", func(t *testing.T) {
		db1, db2, db3 := topology(MariaDB, true)
		n := newFakeNet(db1, db2, db3)
		res, err := Execute(t.Context(), plan(MariaDB, KindSwitchover, db1, db2, db3), n.dial, nil)
		if res.Promoted || !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "failover.replication_user") {
			t.Fatalf("res %+v err %v", res, err)
		}
		if len(n.steps) != 0 || db1.readOnly || db2.source != db1.addr {
			t.Errorf("statements were run: %v; db1 %+v db2 %+v", n.steps, db1, db2)
		}
	})
	t.Run("a failure past the point of no return says what changed", func(t *testing.T) {
		db1, db2, db3 := topology(MariaDB, true)
		db2.failOn = createEpochTable
		p := plan(MariaDB, KindSwitchover, db1, db2, db3)
		p.Repl = ReplCredentials{User: "repl", Password: "secret"}
		res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
		if res.Promoted || err == nil || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "db2 (10.0.0.2:3306) was detached from db1") {
			t.Fatalf("res %+v err %v", res, err)
		}
		if db1.readOnly {
			t.Error("db1 was not made writable again")
		}
	})
	t.Run("an old primary that cannot be reopened is reported", func(t *testing.T) {
		db1, db2, db3 := topology(MariaDB, true)
		db2.waitResult = "-1"
		db1.failOn = dialects[MariaDB].open
		p := plan(MariaDB, KindSwitchover, db1, db2, db3)
		p.Repl = ReplCredentials{User: "repl", Password: "secret"}
		res, err := Execute(t.Context(), p, newFakeNet(db1, db2, db3).dial, nil)
		if !errors.Is(err, ErrCatchup) || len(res.Changed) != 1 || !strings.Contains(res.Changed[0], "db1 (10.0.0.1:3306) is still read-only") {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
}

func TestPrecheck(t *testing.T) {
	refused := func(context.Context, Target) (Conn, error) {
		return nil, errors.New("ERROR 1045 (28000): Access denied for user 'repl'")
	}
	tests := []struct {
		name  string
		setup func(db1, db2, db3 *fakeServer, p *Plan, replDial *Dialer)
		want  string // "" passes
	}{
		{"ready", func(_, _, _ *fakeServer, _ *Plan, _ *Dialer) {}, ""},
		{"no replication account", func(_, _, _ *fakeServer, p *Plan, _ *Dialer) { p.Repl = ReplCredentials{} }, "set failover.replication_user"},
		{"replication login refused", func(_, _, _ *fakeServer, _ *Plan, d *Dialer) { *d = refused }, `failover.replication_user "repl" cannot log in to db2`},
		{"a replica ahead of the primary", func(_, _, db3 *fakeServer, _ *Plan, _ *Dialer) { db3.executed = "0-1-13" }, "db3 (10.0.0.3:3306) has 1 transaction(s) that the primary db1 lacks"},
		{"a replica unreachable", func(_, _, db3 *fakeServer, _ *Plan, _ *Dialer) { db3.down = true }, "cannot read the position of db3"},
		{"a failover needs no account", func(_, _, _ *fakeServer, p *Plan, d *Dialer) {
			p.Kind, p.Repl, *d = KindFailover, ReplCredentials{}, refused
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db1, db2, db3 := topology(MariaDB, true)
			n := newFakeNet(db1, db2, db3)
			p := plan(MariaDB, KindSwitchover, db1, db2, db3)
			p.Repl = ReplCredentials{User: "repl", Password: "secret"}
			var replDial Dialer = n.dial
			tt.setup(db1, db2, db3, &p, &replDial)
			err := Precheck(t.Context(), p, n.dial, replDial)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Precheck = %v, want nil", err)
			case tt.want != "" && (!errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Precheck = %v, want ErrPrecondition with %q", err, tt.want)
			}
			if db1.readOnly || db2.source != db1.addr || db3.source != db1.addr {
				t.Errorf("Precheck changed a server: db1 %+v", db1)
			}
		})
	}
}

func TestRejoin(t *testing.T) {
	cred := ReplCredentials{User: "repl", Password: "repl"}
	primary := &fakeServer{name: "db2", addr: "10.0.0.2:3306", flavor: MariaDB, executed: "0-2-20"}
	t.Run("history allows", func(t *testing.T) {
		old := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: MariaDB, readOnly: true, executed: "0-1-12"}
		err := Rejoin(t.Context(), newFakeNet(old, primary).dial, MariaDB, target(old), target(primary), cred, false, time.Second)
		if err != nil || old.source != primary.addr || !old.ioRunning {
			t.Fatalf("err %v old %+v", err, old)
		}
	})
	t.Run("ahead of the primary", func(t *testing.T) {
		old := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: MariaDB, readOnly: true, executed: "0-1-25"}
		err := Rejoin(t.Context(), newFakeNet(old, primary).dial, MariaDB, target(old), target(primary), cred, false, time.Second)
		if !errors.Is(err, ErrDiverged) || old.source != "" {
			t.Fatalf("err %v old %+v", err, old)
		}
	})
	t.Run("same sequence, other history: the source refuses", func(t *testing.T) {
		old := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: MariaDB, readOnly: true, executed: "0-1-15",
			startFailsWithErrno: "1236"}
		err := Rejoin(t.Context(), newFakeNet(old, primary).dial, MariaDB, target(old), target(primary), cred, false, time.Second)
		if !errors.Is(err, ErrDiverged) || old.source != "" {
			t.Fatalf("err %v old %+v", err, old)
		}
	})
	t.Run("no account", func(t *testing.T) {
		old := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: MariaDB}
		if err := Rejoin(t.Context(), newFakeNet(old, primary).dial, MariaDB, target(old), target(primary),
			ReplCredentials{}, false, time.Second); err == nil {
			t.Fatal("rejoin without credentials")
		}
	})
}

func TestFence(t *testing.T) {
	for _, f := range []Flavor{MariaDB, MySQL} {
		s := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: f}
		if err := Fence(t.Context(), newFakeNet(s).dial, f, target(s)); err != nil || !s.readOnly || s.superRO != (f == MySQL) {
			t.Errorf("%s: err %v server %+v", f, err, s)
		}
	}
	down := &fakeServer{name: "db1", addr: "10.0.0.1:3306", flavor: MariaDB, down: true}
	if err := Fence(t.Context(), newFakeNet(down).dial, MariaDB, target(down)); err == nil {
		t.Error("fencing a down server succeeded")
	}
}

const uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
