package main

import (
	"database/sql"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestRoutesAndRelays runs the prototype against the real topology: a read
// is answered by a replica, a statement the classifier calls a write by
// the primary, and concurrent clients all get their own answers.
func TestRoutesAndRelays(t *testing.T) {
	topo := testenv.Topology(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = serve(ln, topo.Primary, []string{topo.Replica1, topo.Replica2}, 2) }()
	db, err := sql.Open("mysql", fmt.Sprintf("app:app@tcp(%s)/test?timeout=5s&readTimeout=10s", ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(16)

	var port string
	deadline := time.Now().Add(30 * time.Second) // the pools connect first
	for err = db.QueryRow("SELECT @@port").Scan(&port); err != nil; err = db.QueryRow("SELECT @@port").Scan(&port) {
		if time.Now().After(deadline) {
			t.Fatalf("no answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasSuffix(topo.Replica1, ":"+port) && !strings.HasSuffix(topo.Replica2, ":"+port) {
		t.Errorf("a read was answered by port %s, want a replica (%s, %s)", port, topo.Replica1, topo.Replica2)
	}
	var released sql.NullInt64
	if err := db.QueryRow("SELECT @@port, RELEASE_LOCK('evproto')").Scan(&port, &released); err != nil ||
		!strings.HasSuffix(topo.Primary, ":"+port) {
		t.Errorf("a named-lock statement was answered by port %s (%v), want the primary %s", port, err, topo.Primary)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				var got int
				if err := db.QueryRow(fmt.Sprintf("SELECT %d + 1", g*1000+i)).Scan(&got); err != nil || got != g*1000+i+1 {
					errs <- fmt.Errorf("client %d, query %d: got %d, %v", g, i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
