package wire

import "encoding/binary"

// AnswerScan follows the answer to one COM_QUERY, frame by frame, to find
// where it ends without a caller that relays it: the proxy's pipelined
// reads (several statements written back to back on one backend
// connection, their answers read in order) must know where one answer
// stops and the next begins. It also says whether the answer is plain:
// one result set (columns, rows, the closing EOF), no error, no warnings,
// no more results and no session state change, which is all a pipelined
// read may hand a client; anything else the caller runs again on a
// connection of the client's own. Classic EOF framing only: the proxy
// never negotiates CLIENT_DEPRECATE_EOF.
type AnswerScan struct {
	stage     answerStage
	columns   uint64
	inLong    bool   // the previous frame was MaxPayload long: this one continues it
	notPlain  bool   // something made the answer more than a plain result set
	Status    uint16 // the final status flags, once Next reported the end
	Malformed bool   // the answer broke the protocol: the connection is unusable
	// Changed: the server reported a session state change: the
	// connection no longer carries the state it was shared with.
	Changed bool
}

type answerStage uint8

const (
	stageFirst   answerStage = iota // the first packet: OK, ERR, LOCAL INFILE or a column count
	stageColumns                    // column definitions
	stageEOF                        // the EOF after them
	stageRows                       // rows up to an EOF or ERR
)

// Next takes the next frame of the answer (its size and leading bytes,
// as Packet.Head keeps them) and reports whether the answer ended with it.
func (a *AnswerScan) Next(p Packet) (end bool) {
	long := a.inLong
	a.inLong = p.Size == MaxPayload
	if long { // the rest of a long packet: a row or column, never an end
		return false
	}
	if a.inLong {
		a.notPlain = true // big rows are left to a connection of the client's own
	}
	switch a.stage {
	case stageFirst:
		switch {
		case p.Size == 0:
			a.Malformed = true
			return true
		case p.First() == OKHeader:
			a.Status, a.notPlain = p.Status(), true
			a.Changed = a.Changed || a.Status&StatusStateChanged != 0
			return a.Status&StatusMoreResults == 0
		case p.IsProgress():
			a.notPlain = true
			return false
		case p.IsERR():
			a.notPlain = true
			return true
		case p.First() == LocalInfileReq:
			// A read never asks for a file; a connection that did waits
			// for one, and no other answer will come.
			a.Malformed = true
			return true
		}
		n, used := LenEncInt(p.Head)
		if used == 0 || n == 0 {
			a.Malformed = true
			return true
		}
		a.columns, a.stage = n, stageColumns
	case stageColumns:
		if a.columns--; a.columns == 0 {
			a.stage = stageEOF
		}
	case stageEOF:
		if !p.IsEOF() {
			a.Malformed = true
			return true
		}
		a.stage = stageRows
	case stageRows:
		switch {
		case p.IsERR():
			a.notPlain = true
			return true
		case p.IsEOF():
			a.Status = p.Status()
			a.Changed = a.Changed || a.Status&StatusStateChanged != 0
			if p.Warnings() != 0 || a.Changed {
				a.notPlain = true
			}
			if a.Status&StatusMoreResults != 0 {
				a.notPlain = true
				a.stage = stageFirst
				return false
			}
			return true
		}
	}
	return false
}

// Plain reports, once the answer ended, whether it was one result set with
// nothing more to say (see AnswerScan).
func (a *AnswerScan) Plain() bool { return !a.notPlain && !a.Malformed }

// PrepareScan follows the answer to one COM_STMT_PREPARE, as AnswerScan
// does a query's: an OK with the statement's id and counts, then the
// parameter definitions and the column definitions, each list (when not
// empty) closed by an EOF; or an ERR.
type PrepareScan struct {
	started   bool
	left      int // definitions and EOFs still to come
	OK        bool
	StmtID    uint32
	Params    int
	Malformed bool
}

// Next takes the next frame and reports whether the answer ended with it.
func (a *PrepareScan) Next(p Packet) (end bool) {
	if a.started {
		a.left--
		return a.left <= 0
	}
	a.started = true
	h := p.Head
	switch {
	case p.IsERR():
		return true
	case p.First() != OKHeader || len(h) < 9:
		a.Malformed = true
		return true
	}
	a.OK = true
	a.StmtID = binary.LittleEndian.Uint32(h[1:5])
	columns := int(binary.LittleEndian.Uint16(h[5:7]))
	a.Params = int(binary.LittleEndian.Uint16(h[7:9]))
	for _, n := range [2]int{a.Params, columns} {
		if n > 0 {
			a.left += n + 1
		}
	}
	return a.left == 0
}
