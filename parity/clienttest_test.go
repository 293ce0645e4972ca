package parity_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/switchyard/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// caseTimeout bounds one case. Cases take well under a second each; a
// case that hangs through the proxy must fail the gate, not stall it.
const caseTimeout = 60 * time.Second

// clientTestDB is the database every case creates, uses and drops.
const clientTestDB = "client_test_db"

// TestClientTestParity runs every case of mariadb-client-test directly
// against the primary and through switchyard (as root, a user with ALL
// privileges, as the program expects); every case that passes directly
// must pass through the proxy.
func TestClientTestParity(t *testing.T) {
	bin := clientTestBinary(t)
	cases := listCases(t, bin)
	topo := testenv.NewTopology(t)
	yaml, addr, admin := testenv.ProxyConfig(t, topo.Addrs(), "")
	yaml = strings.Replace(yaml, "users:\n", "users:\n"+programUsers(), 1)
	proxy := testenv.StartSwitchyard(t, yaml, addr, admin, true)

	r := newResetter(t, topo.Primary)
	direct := runAll(t, r, bin, topo.Primary, cases, nil)
	var passDirect []string
	for _, c := range cases {
		if direct[c].ok {
			passDirect = append(passDirect, c)
		}
	}
	replicas := openReplicas(t, topo)
	seen := map[string]bool{}
	proxied := runAll(t, r, bin, proxy.Addr, passDirect, func(c string) {
		// A write on a replica is named with the case that made it; the
		// replica is then repaired so that the cases after it still
		// compare the proxy, not a replica whose replication stopped.
		for addr, errant := range replicas.errantGTIDs(t) {
			for _, g := range errant {
				if !seen[g] {
					seen[g] = true
					t.Errorf("after %s through switchyard: %s", c, g)
				}
			}
			replicas.repair(t, addr)
		}
	})
	var diverged []string
	for _, c := range passDirect {
		if !proxied[c].ok {
			diverged = append(diverged, c)
		}
	}
	t.Logf("mariadb-client-test: %d cases, %d pass directly, %d of those pass through switchyard",
		len(cases), len(passDirect), len(passDirect)-len(diverged))
	for _, c := range diverged {
		if why, ok := divergesByDesign[c]; ok {
			t.Logf("%s fails through switchyard, by design: %s", c, why)
			continue
		}
		// Once more, to tell an intermittent failure (a race in the
		// proxy) from a steady one; either is a divergence.
		again := "fails again on a second run"
		r.reset(t)
		if runCase(bin, proxy.Addr, t.TempDir(), c).ok {
			again = "passes on a second run: intermittent"
		}
		t.Errorf("%s passes directly and fails through switchyard (%s; %s):\n%s",
			c, proxied[c].why, again, tail(proxied[c].out, 1500))
	}
}

// divergesByDesign are the cases that test one server's own machinery,
// not what an application sees of the protocol: each still runs, and its
// failure is logged with the reason. Keep this list short; a case goes
// here only when no proxy that splits reads from writes could pass it.
var divergesByDesign = map[string]string{
	"test_frm_bug": "it writes a .frm file into the data directory of the server it asked @@datadir " +
		"(the primary) behind the server's back; its SHOW TABLE STATUS is a read, which runs on a " +
		"replica, where no such file exists",
	"test_bug20023": "it sets @@global.max_join_size on the primary and reads @@session.sql_big_selects " +
		"of a new session, which derives from it; SET GLOBAL is not replicated, and the read runs on a " +
		"replica, whose global is unchanged",
	"test_cache_metadata": "it reads the server's Resultset_metadata_skipped counter; switchyard does not " +
		"offer MARIADB_CLIENT_CACHE_METADATA (backend connections share prepared statements between " +
		"sessions, so the server would skip metadata a client never got), so no metadata is skipped",
}

// programUsers are the proxy's users for the gate: root, as which the
// program logs in (it GRANTs, SETs GLOBAL, creates users), and the
// accounts its COM_CHANGE_USER cases create and switch to
// (test_change_user, test_bug31669), with the passwords they give them:
// the proxy admits configured users only, so a deployment lists every
// account its applications log in as.
func programUsers() string {
	return "  - {name: root, password: \"\"}\n" +
		"  - {name: mysqltest_pw, password: password}\n" +
		"  - {name: mysqltest_no_pw, password: \"\"}\n" +
		"  - {name: " + strings.Repeat("b", 16) + ", password: " + strings.Repeat("c", 2048) + "}\n"
}

// replicaDBs are root connections to the replicas.
type replicaDBs map[string]*sql.DB

func openReplicas(t *testing.T, topo *testenv.Topo) replicaDBs {
	dbs := replicaDBs{}
	for _, addr := range []string{topo.Replica1, topo.Replica2} {
		db, err := sql.Open("mysql", testenv.DSN(addr, "root", "", ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[addr] = db
	}
	return dbs
}

// errantGTIDs describes, by replica, each GTID a replica holds of its own
// server id: a write ran there (through the proxy), which stops its
// replication once the primary's transaction with that sequence number
// arrives.
func (dbs replicaDBs) errantGTIDs(t *testing.T) map[string][]string {
	errant := map[string][]string{}
	for addr, db := range dbs {
		var id int64
		var state string // the last GTID of every domain and server id in the binlog
		if err := db.QueryRow("SELECT @@server_id, @@gtid_binlog_state").Scan(&id, &state); err != nil {
			t.Fatalf("replica %s: %v", addr, err)
		}
		for _, g := range strings.Split(state, ",") {
			// domain-server_id-sequence
			if parts := strings.Split(strings.TrimSpace(g), "-"); len(parts) == 3 && parts[1] == strconv.FormatInt(id, 10) {
				errant[addr] = append(errant[addr], fmt.Sprintf("replica %s (server_id %d) holds GTID %s of its own: a write ran on it", addr, id, g))
			}
		}
	}
	return errant
}

// repair drops a replica's own binlog (RESET MASTER), errant GTID
// included, so that its replication goes on from what it applied
// (gtid_slave_pos); the errant write stays in its data, which the next
// DROP DATABASE client_test_db takes away.
func (dbs replicaDBs) repair(t *testing.T, addr string) {
	for _, q := range []string{"STOP SLAVE", "RESET MASTER", "START SLAVE"} {
		if _, err := dbs[addr].Exec(q); err != nil {
			t.Fatalf("repair replica %s: %s: %v", addr, q, err)
		}
	}
}

// clientTestBinary finds the program, or skips: it comes from a package
// (mariadb-test) that not every machine has; .ci/run installs it.
func clientTestBinary(t *testing.T) string {
	for _, name := range []string{"mariadb-client-test", "mysql_client_test"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("mariadb-client-test not installed (Debian package mariadb-test)")
	return ""
}

// listCases returns the case names `-T` prints after its header line.
func listCases(t *testing.T, bin string) []string {
	out, err := exec.Command(bin, "--no-defaults", "-T").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -T: %v\n%s", bin, err, out)
	}
	var cases []string
	header := true
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case header:
			header = !strings.HasPrefix(line, "All possible test names")
		case line != "":
			cases = append(cases, line)
		}
	}
	if len(cases) < 100 {
		t.Fatalf("%s -T listed %d cases, want hundreds:\n%s", bin, len(cases), out)
	}
	return cases
}

type outcome struct {
	ok  bool
	why string // exit status or timeout, when !ok
	out []byte
}

// runAll runs each case alone against addr, resetting the primary before
// each one and calling after (if set) after each.
func runAll(t *testing.T, r *resetter, bin, addr string, cases []string, after func(string)) map[string]outcome {
	res := make(map[string]outcome, len(cases))
	dir := t.TempDir()
	for _, c := range cases {
		r.reset(t)
		res[c] = runCase(bin, addr, dir, c)
		if after != nil {
			after(c)
		}
	}
	r.reset(t)
	return res
}

func runCase(bin, addr, dir, name string) outcome {
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--no-defaults", "--host="+host, "--port="+port,
		"--user=root", "--password=", "-b", dir, name)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	switch {
	case ctx.Err() != nil:
		return outcome{why: fmt.Sprintf("no answer within %v", caseTimeout), out: out}
	case err != nil:
		return outcome{why: err.Error(), out: out}
	}
	return outcome{ok: true, out: out}
}

// resetter puts the primary back as a case found it. A case that fails
// half-way leaves its tables in client_test_db and its SET GLOBALs (a
// global autocommit=0, say) in place, which would fail later cases for no
// fault of theirs.
type resetter struct {
	db      *sql.DB
	globals map[string]string // SHOW GLOBAL VARIABLES before the first case
	fixed   map[string]bool   // restored at least once (logged once)
}

func newResetter(t *testing.T, primary string) *resetter {
	db, err := sql.Open("mysql", testenv.DSN(primary, "root", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	r := &resetter{db: db, fixed: map[string]bool{}}
	r.globals = r.readGlobals(t)
	return r
}

func (r *resetter) readGlobals(t *testing.T) map[string]string {
	rows, err := r.db.Query("SHOW GLOBAL VARIABLES")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		if v.Valid {
			m[k] = v.String
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *resetter) reset(t *testing.T) {
	// FLUSH PRIVILEGES: test_bug31669 removes its user with DELETE FROM
	// mysql.user, which leaves the user in the server's memory, where it
	// makes the next GRANT to it fail (1133).
	for _, q := range []string{"DROP DATABASE IF EXISTS " + clientTestDB, "FLUSH PRIVILEGES"} {
		if _, err := r.db.Exec(q); err != nil {
			t.Fatalf("reset: %s: %v", q, err)
		}
	}
	for k, v := range r.readGlobals(t) {
		want, known := r.globals[k]
		if !known || v == want {
			continue
		}
		q := fmt.Sprintf("SET GLOBAL %s = %s", k, sqlValue(want))
		if _, err := r.db.Exec(q); err != nil {
			// Read-only variables that move on their own (GTID positions)
			// cannot be put back and need not be.
			delete(r.globals, k)
			continue
		}
		if !r.fixed[k] {
			r.fixed[k] = true
			t.Logf("reset: a case left global %s = %q; restored %q", k, v, want)
		}
	}
}

// sqlValue quotes v unless it is a number: SET GLOBAL refuses a quoted
// value for a numeric variable (1232).
func sqlValue(v string) string {
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	if _, err := strconv.ParseUint(v, 10, 64); err == nil {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
