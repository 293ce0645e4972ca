package wire

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TestAnswerScan feeds whole answers packet by packet: the scan must say
// where each ends (no earlier: a pipelined reader would hand the rest of
// the answer to the next read) and whether it is plain.
func TestAnswerScan(t *testing.T) {
	col := []byte{3, 'd', 'e', 'f'} // a column definition's first bytes
	row := []byte{1, '7'}
	eof := func(warnings, status uint16) []byte {
		return []byte{EOFHeader, byte(warnings), byte(warnings >> 8), byte(status), byte(status >> 8)}
	}
	ok := func(status uint16) []byte { return []byte{OKHeader, 0, 0, byte(status), byte(status >> 8), 0, 0} }
	errPkt := []byte{ERRHeader, 0x92, 0x06, '#', '2', '2', '0', '0', '3', 'x'}
	progress := []byte{ERRHeader, 0xff, 0xff, 1, 1, 0, 0, 0}
	const ac = StatusAutocommit
	for _, tc := range []struct {
		name      string
		packets   [][]byte
		plain     bool
		malformed bool
		changed   bool
		status    uint16
	}{
		{"one column, two rows", [][]byte{{1}, col, eof(0, ac), row, row, eof(0, ac)}, true, false, false, ac},
		{"no rows", [][]byte{{2}, col, col, eof(0, ac), eof(0, ac)}, true, false, false, ac},
		{"a row that starts like an OK packet", [][]byte{{1}, col, eof(0, ac), {0, 0, 0, 0}, eof(0, ac)}, true, false, false, ac},
		{"warnings", [][]byte{{1}, col, eof(0, ac), row, eof(1, ac)}, false, false, false, ac},
		{"state changed", [][]byte{{1}, col, eof(0, ac), row, eof(0, ac|StatusStateChanged)}, false, false, true, ac | StatusStateChanged},
		{"error first", [][]byte{errPkt}, false, false, false, 0},
		{"error in the rows", [][]byte{{1}, col, eof(0, ac), row, errPkt}, false, false, false, 0},
		{"an OK", [][]byte{ok(ac)}, false, false, false, ac},
		{"an OK that changed state", [][]byte{ok(ac | StatusStateChanged)}, false, false, true, ac | StatusStateChanged},
		{"progress, then the result", [][]byte{progress, {1}, col, eof(0, ac), row, eof(0, ac)}, false, false, false, ac},
		{"two results", [][]byte{{1}, col, eof(0, ac), row, eof(0, ac|StatusMoreResults), {1}, col, eof(0, ac), row, eof(0, ac)}, false, false, false, ac},
		{"result then OK", [][]byte{{1}, col, eof(0, ac), eof(0, ac|StatusMoreResults), ok(ac)}, false, false, false, ac},
		{"LOCAL INFILE request", [][]byte{{LocalInfileReq, 'f'}}, false, true, false, 0},
		{"empty packet", [][]byte{{}}, false, true, false, 0},
		{"no EOF after the columns", [][]byte{{1}, col, row}, false, true, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a AnswerScan
			for i, p := range tc.packets {
				end := a.Next(Packet{Size: len(p), Head: p})
				if last := i == len(tc.packets)-1; end != last {
					t.Fatalf("packet %d of %d: end = %v", i+1, len(tc.packets), end)
				}
			}
			if a.Plain() != tc.plain || a.Malformed != tc.malformed || a.Changed != tc.changed {
				t.Errorf("plain %v malformed %v changed %v; want %v %v %v", a.Plain(), a.Malformed, a.Changed, tc.plain, tc.malformed, tc.changed)
			}
			if !tc.malformed && a.Status != tc.status {
				t.Errorf("status %#x, want %#x", a.Status, tc.status)
			}
		})
	}
}

// TestAnswerScanLongRow: the frames of a packet longer than one frame are
// one packet; a frame that continues a row never ends the answer, even
// when it looks like an EOF.
func TestAnswerScanLongRow(t *testing.T) {
	var a AnswerScan
	steps := []struct {
		p   Packet
		end bool
	}{
		{Packet{Size: 1, Head: []byte{1}}, false},
		{Packet{Size: 4, Head: []byte{3, 'd', 'e', 'f'}}, false},
		{Packet{Size: 5, Head: []byte{EOFHeader, 0, 0, 2, 0}}, false},
		{Packet{Size: MaxPayload, Head: []byte{0xfc, 0xff, 0xff}}, false},
		{Packet{Size: 5, Head: []byte{EOFHeader, 0, 0, 2, 0}}, false}, // the row's tail
		{Packet{Size: 5, Head: []byte{EOFHeader, 0, 0, 2, 0}}, true},
	}
	for i, s := range steps {
		if got := a.Next(s.p); got != s.end {
			t.Fatalf("frame %d: end = %v, want %v", i+1, got, s.end)
		}
	}
	if a.Plain() {
		t.Error("an answer with a row longer than a frame is not plain (it is left to a connection of the client's own)")
	}
}

// TestStmtClose: the command byte is the protocol's, the id little-endian.
func TestStmtClose(t *testing.T) {
	if got, want := StmtClose(0x04030201), [5]byte{mysql.COM_STMT_CLOSE, 1, 2, 3, 4}; got != want {
		t.Fatalf("StmtClose = %v, want %v", got, want)
	}
}
