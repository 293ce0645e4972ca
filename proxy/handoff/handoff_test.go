package handoff

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// pair returns both ends as Conns.
func pair(t *testing.T) (*Conn, *Conn) {
	t.Helper()
	parent, childEnd, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	child, err := newConn(childEnd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Close(); child.Close() })
	return parent, child
}

// TestSocketCrossesWithItsHeader: a TCP connection sent with a message is
// the same connection on the other side: bytes written to the received
// descriptor reach the peer, and the header names it.
func TestSocketCrossesWithItsHeader(t *testing.T) {
	parent, child := pair(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	served, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := served.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	img := json.RawMessage(`{"id":7}`)
	if err := parent.Send(Msg{Kind: KindSession, ID: 7, Session: img, Files: []string{"client"}}, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	served.Close() // the receiver's copy keeps the connection open

	m, files, err := child.Recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindSession || m.ID != 7 || !bytes.Equal(m.Session, img) || len(files) != 1 {
		t.Fatalf("got %+v with %d files", m, len(files))
	}
	nc, err := net.FileConn(files[0])
	files[0].Close()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("moved")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, buf); err != nil || string(buf) != "moved" {
		t.Fatalf("peer read %q, %v", buf, err)
	}
}

func TestRecvErrors(t *testing.T) {
	t.Run("closed peer", func(t *testing.T) {
		parent, child := pair(t)
		child.Close()
		if _, _, err := parent.Recv(time.Second); err == nil {
			t.Fatal("Recv after the peer closed: no error")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		parent, _ := pair(t)
		_, _, err := parent.Recv(50 * time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("err = %v, want a deadline", err)
		}
	})
	t.Run("files not named", func(t *testing.T) {
		parent, child := pair(t)
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := parent.Send(Msg{Kind: KindListeners}, f); err != nil {
			t.Fatal(err)
		}
		if _, _, err := child.Recv(time.Second); err == nil || !strings.Contains(err.Error(), "descriptors") {
			t.Fatalf("err = %v, want a descriptor count mismatch", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		parent, _ := pair(t)
		big := json.RawMessage(`"` + strings.Repeat("x", maxMsg) + `"`)
		if err := parent.Send(Msg{Kind: KindSession, Session: big}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("err = %v, want ErrTooLarge", err)
		}
	})
}

func TestInheritedWithoutTheVariable(t *testing.T) {
	t.Setenv(EnvFD, "")
	os.Unsetenv(EnvFD)
	c, err := Inherited()
	if c != nil || err != nil {
		t.Fatalf("Inherited() = %v, %v; want nil, nil", c, err)
	}
	t.Setenv(EnvFD, "nope")
	if _, err := Inherited(); err == nil {
		t.Fatal("a bad descriptor number was accepted")
	}
}
