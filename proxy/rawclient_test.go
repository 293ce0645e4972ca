package proxy_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"
)

// These tests speak the protocol at packet level (go-mysql's client) for
// what database/sql drivers do not expose: the handshake's connection id
// and server-side cursors.

// TestKillByProxyConnectionID kills a statement, then a whole connection,
// by the connection id the client saw in the handshake.
func TestKillByProxyConnectionID(t *testing.T) {
	p := sharedProxy(t)
	victim, err := client.Connect(p.Addr, "app", "app", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()
	id := victim.GetConnectionID()
	db := open(t, p.Addr, "")

	done := make(chan error, 1)
	go func() {
		_, err := victim.Execute("SELECT SLEEP(30)")
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	mustExec(t, db, fmt.Sprintf("KILL QUERY %d", id))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("KILL QUERY of the handshake connection id did not stop the statement")
	}
	if _, err := victim.Execute("SELECT 1"); err != nil {
		t.Fatalf("the victim's connection after KILL QUERY: %v", err)
	}

	mustExec(t, db, fmt.Sprintf("KILL %d", id))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := victim.Execute("SELECT 1"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("KILL of the handshake connection id left the connection working")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, err = db.Exec(fmt.Sprintf("KILL %d", id+1000000))
	wantCode(t, err, 1094) // unknown thread, as the server says
}

// TestCursorFetch executes a prepared statement with a read-only cursor and
// reads its rows with COM_STMT_FETCH, two at a time.
func TestCursorFetch(t *testing.T) {
	p := sharedProxy(t)
	c, err := client.Connect(p.Addr, "app", "app", "test")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write, read := packetIO(t, c)
	write(append([]byte{mysql.COM_STMT_PREPARE}, "SELECT seq FROM seq_1_to_5"...))
	ok := read()
	stmt := binary.LittleEndian.Uint32(ok[1:5])
	columns := int(binary.LittleEndian.Uint16(ok[5:7]))
	for range columns + 1 { // definitions and EOF
		read()
	}
	exec := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, 1 /* CURSOR_TYPE_READ_ONLY */, 1, 0, 0, 0}
	binary.LittleEndian.PutUint32(exec[1:5], stmt)
	write(exec)
	read() // column count
	for range columns {
		read()
	}
	eof := read()
	if eof[0] != mysql.EOF_HEADER || binary.LittleEndian.Uint16(eof[3:5])&mysql.SERVER_STATUS_CURSOR_EXISTS == 0 {
		t.Fatalf("no cursor opened: % x", eof)
	}
	rows := 0
	for fetches := 0; fetches < 10; fetches++ {
		fetch := []byte{mysql.COM_STMT_FETCH, 0, 0, 0, 0, 2, 0, 0, 0}
		binary.LittleEndian.PutUint32(fetch[1:5], stmt)
		write(fetch)
		last := false
		for {
			b := read()
			if b[0] == mysql.EOF_HEADER && len(b) < 9 {
				last = binary.LittleEndian.Uint16(b[3:5])&mysql.SERVER_STATUS_LAST_ROW_SEND != 0
				break
			}
			rows++
		}
		if last {
			break
		}
	}
	if rows != 5 {
		t.Fatalf("fetched %d rows through the cursor, want 5", rows)
	}
	if _, err := c.Execute("SELECT 1"); err != nil {
		t.Fatalf("the connection after the cursor: %v", err)
	}
}

// packetIO returns functions that write one command packet on c (a new
// sequence) and read one packet, failing the test on an error packet.
func packetIO(t *testing.T, c *client.Conn) (write func([]byte), read func() []byte) {
	write = func(payload []byte) {
		t.Helper()
		c.ResetSequence()
		if err := c.WritePacket(append(make([]byte, 4), payload...)); err != nil {
			t.Fatal(err)
		}
	}
	read = func() []byte {
		t.Helper()
		b, err := c.ReadPacket()
		if err != nil {
			t.Fatal(err)
		}
		if b[0] == mysql.ERR_HEADER {
			t.Fatalf("server error: %s", b[9:])
		}
		return b
	}
	return write, read
}
