package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// memConn is a net.Conn over a reader and a writer, for tests.
type memConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (m memConn) Read(p []byte) (int, error)  { return m.r.Read(p) }
func (m memConn) Write(p []byte) (int, error) { return m.w.Write(p) }
func (m memConn) Close() error                { return nil }

func frame(payload []byte, seq byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func TestRelayKeepsFramesAndSequence(t *testing.T) {
	big := bytes.Repeat([]byte{'a'}, MaxPayload)
	for _, tc := range []struct {
		name    string
		frames  [][]byte
		size    int
		nextSeq byte
	}{
		{"ok packet", [][]byte{frame([]byte{0, 0, 0, 2, 0, 0, 0}, 1)}, 7, 2},
		{"empty packet", [][]byte{frame(nil, 3)}, 0, 4},
		{"exactly one full frame", [][]byte{frame(big, 1), frame(nil, 2)}, MaxPayload, 3},
		{"two frames", [][]byte{frame(big, 5), frame([]byte("tail"), 6)}, MaxPayload + 4, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := bytes.Join(tc.frames, nil)
			var out bytes.Buffer
			src := NewConn(memConn{r: bytes.NewReader(in)}, 4096, 4096)
			dst := NewConn(memConn{w: &out}, 4096, 4096)
			p, err := src.Relay(dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := dst.Flush(); err != nil {
				t.Fatal(err)
			}
			if p.Size != tc.size || p.NextSeq != tc.nextSeq {
				t.Fatalf("size %d next %d, want %d %d", p.Size, p.NextSeq, tc.size, tc.nextSeq)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Fatal("relayed bytes differ from the input")
			}
		})
	}
}

func TestPacketStatus(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload []byte
		status  uint16
		eof     bool
	}{
		{"ok", []byte{0, 0, 0, 0x0A, 0x00, 0, 0}, 0x000A, false},
		{"ok with lenenc ids", []byte{0, 0xFC, 1, 0, 0xFC, 2, 0, 0x03, 0x00, 0, 0}, 0x0003, false},
		{"eof", []byte{0xFE, 0, 0, 0x22, 0x00}, 0x0022, true},
		{"truncated ok", []byte{0, 0xFD}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Packet{Size: len(tc.payload), Head: tc.payload}
			if p.Status() != tc.status || p.IsEOF() != tc.eof {
				t.Fatalf("status %#x eof %v, want %#x %v", p.Status(), p.IsEOF(), tc.status, tc.eof)
			}
		})
	}
}

func TestPacketIsProgress(t *testing.T) {
	for _, tc := range []struct {
		name     string
		payload  []byte
		progress bool
	}{
		// 0xFF, code 0xFFFF, 1, stage 1, max stage 3, progress(3), "copy to tmp table"
		{"progress report", append([]byte{0xFF, 0xFF, 0xFF, 1, 1, 3, 0x10, 0x27, 0}, "copy"...), true},
		{"error", append([]byte{0xFF, 0x7A, 0x04, '#'}, "42S02no such table"...), false},
		{"short error", []byte{0xFF, 0xFF}, false},
		{"ok", []byte{0, 0xFF, 0xFF, 2, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Packet{Size: len(tc.payload), Head: tc.payload}
			if p.IsProgress() != tc.progress {
				t.Fatalf("IsProgress() = %v, want %v", p.IsProgress(), tc.progress)
			}
		})
	}
}

// BenchmarkRelaySmallResult relays a one-row result set (column count,
// column definition, EOF, row, EOF) as the proxy does for a point select:
// it must not allocate.
func BenchmarkRelaySmallResult(b *testing.B) {
	var result []byte
	result = append(result, frame([]byte{1}, 1)...)
	result = append(result, frame(append([]byte{3, 'd', 'e', 'f'}, bytes.Repeat([]byte{'c'}, 40)...), 2)...)
	result = append(result, frame([]byte{0xFE, 0, 0, 2, 0}, 3)...)
	result = append(result, frame(append([]byte{120}, bytes.Repeat([]byte{'x'}, 120)...), 4)...)
	result = append(result, frame([]byte{0xFE, 0, 0, 2, 0}, 5)...)
	src := NewConn(memConn{r: &loopReader{data: result}}, 64<<10, 4096)
	dst := NewConn(memConn{w: io.Discard}, 4096, 16<<10)
	b.SetBytes(int64(len(result)))
	b.ReportAllocs()
	for b.Loop() {
		for range 5 {
			if _, err := src.Relay(dst); err != nil {
				b.Fatal(err)
			}
		}
		if err := dst.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRelay feeds arbitrary backend bytes to the relay: it must never
// panic, and what it relays is a prefix of the input.
func FuzzRelay(f *testing.F) {
	f.Add(frame([]byte{0, 0, 0, 2, 0, 0, 0}, 1))
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0, 1, 2})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		src := NewConn(memConn{r: bytes.NewReader(in)}, 16, 16)
		dst := NewConn(memConn{w: &out}, 16, 16)
		for range 100 {
			p, err := src.Relay(dst)
			if err != nil {
				break
			}
			_ = p.Status()
			_ = p.IsTerminator(true)
			LenEncInt(p.Head)
		}
		_ = dst.Flush()
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatal("relayed bytes are not a prefix of the input")
		}
	})
}

// loopReader serves its data over and over.
type loopReader struct {
	data []byte
	pos  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.pos:])
	l.pos = (l.pos + n) % len(l.data)
	return n, nil
}

// TestRelaySourceEnds: a source that ends between packets returns its
// error as is (an error packet may follow); one that ends inside a packet,
// after the header went out, returns ErrMidPacket.
func TestRelaySourceEnds(t *testing.T) {
	big := bytes.Repeat([]byte{'a'}, MaxPayload)
	for _, tc := range []struct {
		name string
		in   []byte
		mid  bool
	}{
		{"nothing", nil, false},
		{"half a header", []byte{5, 0}, false},
		{"header only", frame([]byte("hello"), 1)[:4], true},
		{"half a body", frame([]byte("hello"), 1)[:6], true},
		{"between frames of one packet", frame(big, 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			src := NewConn(memConn{r: bytes.NewReader(tc.in)}, 4096, 4096)
			dst := NewConn(memConn{w: &out}, 4096, 4096)
			_, err := src.Relay(dst)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrMidPacket) != tc.mid || errors.Is(err, ErrWrite) {
				t.Fatalf("err %v: mid-packet %v, want %v", err, errors.Is(err, ErrMidPacket), tc.mid)
			}
		})
	}
}
