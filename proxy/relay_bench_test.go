package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/config"
	"github.com/switchyard/switchyard/health"
	"github.com/switchyard/switchyard/internal/testenv"
)

// The point-select benchmarks run the proxy's whole per-statement path
// (read, classify, route, borrow, relay, release, count) in this process
// against the test topology's replicas, one client connection, with a
// client that allocates nothing: allocs/op is the proxy's allocations
// per statement. ns/op is mostly the round trips to the server; cpu-ns/op
// and usr-ns/op are this process's CPU time (getrusage) per statement,
// the proxy's and the small raw client's, which stays the same from one
// version of the proxy to the next. The proxy's CPU per statement under
// concurrent load is measured from outside (docs/BENCHMARKS.md, "CPU per
// query").
//
//	SWITCHYARD_TEST_TOPOLOGY=... go test -run '^$' -bench PointSelect -benchmem ./proxy/

func BenchmarkPointSelectText(b *testing.B) {
	c, rd := benchSession(b)
	payload := append(make([]byte, 4), mysql.COM_QUERY)
	payload = append(payload, "SELECT c FROM bench_point WHERE id=7"...)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		c.ResetSequence()
		if err := c.WritePacket(payload); err != nil {
			b.Fatal(err)
		}
		rd.result(b)
	}
}

func BenchmarkPointSelectPrepared(b *testing.B) {
	c, rd := benchSession(b)
	prep := append(make([]byte, 4), mysql.COM_STMT_PREPARE)
	prep = append(prep, "SELECT c FROM bench_point WHERE id=?"...)
	c.ResetSequence()
	if err := c.WritePacket(prep); err != nil {
		b.Fatal(err)
	}
	ok := rd.read(b)
	if ok[0] != mysql.OK_HEADER || len(ok) < 12 {
		b.Fatalf("prepare answered %x", ok)
	}
	id := binary.LittleEndian.Uint32(ok[1:5])
	cols, params := int(binary.LittleEndian.Uint16(ok[5:7])), int(binary.LittleEndian.Uint16(ok[7:9]))
	for range params {
		rd.read(b)
	}
	if params > 0 && !rd.deprecateEOF {
		rd.read(b)
	}
	for range cols {
		rd.read(b)
	}
	if cols > 0 && !rd.deprecateEOF {
		rd.read(b)
	}
	// COM_STMT_EXECUTE id, no cursor, one iteration, one BIGINT 7.
	exec := append(make([]byte, 4), mysql.COM_STMT_EXECUTE)
	exec = binary.LittleEndian.AppendUint32(exec, id)
	exec = append(exec, 0, 1, 0, 0, 0, 0, 1, mysql.MYSQL_TYPE_LONGLONG, 0)
	exec = binary.LittleEndian.AppendUint64(exec, 7)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		c.ResetSequence()
		if err := c.WritePacket(exec); err != nil {
			b.Fatal(err)
		}
		rd.result(b)
	}
}

// reportCPU starts counting the process's CPU time; the function it
// returns reports it per iteration.
func reportCPU(b *testing.B) func() {
	var start syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &start); err != nil {
		b.Fatal(err)
	}
	return func() {
		var end syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &end); err != nil {
			b.Fatal(err)
		}
		usr := time.Duration(end.Utime.Nano() - start.Utime.Nano())
		sys := time.Duration(end.Stime.Nano() - start.Stime.Nano())
		b.ReportMetric(float64(usr+sys)/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(usr)/float64(b.N), "usr-ns/op")
	}
}

// benchSession serves a proxy over the test topology (a static snapshot:
// db1 primary, db2 and db3 replicas) and returns a client session to it
// with the table bench_point in place.
func benchSession(b *testing.B) (*client.Conn, *resultReader) {
	b.Helper()
	topo := testenv.Topology(b)
	setup := topo.DB(b, topo.Primary, "root", "", "test")
	for _, q := range []string{
		"CREATE TABLE IF NOT EXISTS bench_point (id INT PRIMARY KEY, c CHAR(120) NOT NULL)",
		"INSERT IGNORE INTO bench_point VALUES (7, REPEAT('x', 120))",
	} {
		if _, err := setup.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Users = []config.User{{Name: "app", Password: "app"}}
	snap := &health.Topology{Epoch: 1}
	for i, addr := range topo.Addrs() {
		s := health.Server{Name: []string{"db1", "db2", "db3"}[i], Address: addr, Up: true, Flavor: health.FlavorMariaDB, Role: health.RoleReplica,
			Replicating: true, IOThreadRunning: true, SQLThreadRunning: true, Source: "db1", SourceAddress: topo.Primary}
		if i == 0 {
			s.Role, s.Replicating, s.IOThreadRunning, s.SQLThreadRunning, s.Source, s.SourceAddress = health.RolePrimary, false, false, false, "", ""
		}
		cfg.Backends = append(cfg.Backends, config.Backend{Name: s.Name, Address: addr})
		snap.Servers = append(snap.Servers, s)
	}
	srv, err := NewServer(cfg, staticTopology{snap}, "10.11.0-MariaDB", slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	c, err := client.Connect(ln.Addr().String(), "app", "app", "test")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = c.Close()
		cancel()
		_ = ln.Close()
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			b.Error(err)
		}
	})
	rd := &resultReader{c: c, deprecateEOF: c.HasCapability(mysql.CLIENT_DEPRECATE_EOF), buf: make([]byte, 0, 1024)}
	// The first statement pays for the pool's first connection.
	c.ResetSequence()
	if err := c.WritePacket(append(make([]byte, 4), append([]byte{mysql.COM_QUERY}, "SELECT 1"...)...)); err != nil {
		b.Fatal(err)
	}
	rd.result(b)
	return c, rd
}

// resultReader reads one statement's answer without allocating.
type resultReader struct {
	c            *client.Conn
	deprecateEOF bool
	buf          []byte
}

func (r *resultReader) read(b *testing.B) []byte {
	p, err := r.c.ReadPacketReuseMem(r.buf[:0])
	if err != nil {
		b.Fatal(err)
	}
	if len(p) > 0 && p[0] == mysql.ERR_HEADER {
		b.Fatalf("server error: %s", p)
	}
	r.buf = p[:0]
	return p
}

// result reads a result set of one or more rows (or an OK).
func (r *resultReader) result(b *testing.B) {
	p := r.read(b)
	if p[0] == mysql.OK_HEADER {
		return
	}
	cols := int(p[0]) // fewer than 251 columns
	for range cols {
		r.read(b)
	}
	if !r.deprecateEOF {
		r.read(b)
	}
	for {
		if p := r.read(b); p[0] == mysql.EOF_HEADER && len(p) < 0xFFFFFF && (len(p) < 9 || r.deprecateEOF) {
			return
		}
	}
}
