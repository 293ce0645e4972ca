package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// MaxPayload is the largest payload of one frame; a frame this long is
// followed by another frame of the same logical packet.
const MaxPayload = 1<<24 - 1

// headSize is how many leading payload bytes a read keeps for inspection:
// enough for an OK packet's header, two length-encoded integers, status and
// warnings, or an ERR packet's code, SQLSTATE and the start of its message.
const headSize = 64

// Packet header bytes and flags the relay inspects.
const (
	OKHeader       = 0x00
	ERRHeader      = 0xFF
	EOFHeader      = 0xFE
	LocalInfileReq = 0xFB

	StatusInTrans     = 0x0001
	StatusAutocommit  = 0x0002
	StatusMoreResults = 0x0008
	StatusCursor      = 0x0040
)

// ErrMalformed marks bytes that do not follow the protocol.
var ErrMalformed = errors.New("malformed packet")

// Conn is a buffered MySQL connection.
type Conn struct {
	net.Conn
	// Sock is what R and W read from and write to: Direct(Conn).
	Sock io.ReadWriter
	R    *bufio.Reader
	W    *bufio.Writer

	head [headSize]byte
	hdr  [4]byte
}

// NewConn wraps nc with a reader and writer of the given buffer sizes.
func NewConn(nc net.Conn, readSize, writeSize int) *Conn {
	sock := Direct(nc)
	return &Conn{Conn: nc, Sock: sock, R: bufio.NewReaderSize(sock, readSize), W: bufio.NewWriterSize(sock, writeSize)}
}

// NewUnbuffered wraps nc without buffers, for a caller that lends them.
func NewUnbuffered(nc net.Conn) *Conn {
	return &Conn{Conn: nc, Sock: Direct(nc)}
}

// Packet describes the logical packet last read by Relay.
type Packet struct {
	Seq     byte   // sequence id of its first frame
	NextSeq byte   // sequence id that follows its last frame
	Size    int    // payload size over all frames
	Head    []byte // leading payload bytes, valid until the next read
}

// ErrWrite marks a failure to write to the destination of a relay, as
// opposed to reading from its source: the caller must know which peer failed.
var ErrWrite = errors.New("write to peer failed")

// ErrMidPacket marks a read that failed after the packet's header was
// written to the destination: the destination holds part of a packet, so
// nothing but the rest of it may follow, not even an error packet.
var ErrMidPacket = errors.New("source failed in the middle of a packet")

// midPacket marks a read failure inside RelayBody; write failures keep
// ErrWrite alone.
func midPacket(err error) error {
	if errors.Is(err, ErrWrite) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrMidPacket, err)
}

// First returns the first payload byte, or 0 for an empty packet.
func (p Packet) First() byte {
	if len(p.Head) == 0 {
		return 0
	}
	return p.Head[0]
}

// IsERR reports an ERR packet. A progress report (IsProgress) looks like
// one but does not end the response.
func (p Packet) IsERR() bool { return p.First() == ERRHeader }

// progressCode is the error code of MariaDB's progress report packet.
const progressCode = 0xFFFF

// IsProgress reports a MariaDB progress report: an ERR header with error
// code 0xFFFF, sent during a long statement (ALTER TABLE, LOAD DATA…) to
// a client that asked for MARIADB_CLIENT_PROGRESS. The statement's real
// response follows it.
func (p Packet) IsProgress() bool {
	return p.ErrCode() == progressCode
}

// ErrCode returns the error code of an ERR packet (0 for others).
func (p Packet) ErrCode() uint16 {
	if len(p.Head) < 3 || p.Head[0] != ERRHeader {
		return 0
	}
	return binary.LittleEndian.Uint16(p.Head[1:3])
}

// IsEOF reports a classic EOF packet (a row never starts with 0xFE and is
// shorter than 9 bytes).
func (p Packet) IsEOF() bool { return p.First() == EOFHeader && p.Size < 9 }

// IsTerminator reports the packet that ends a row stream: a classic EOF, or
// with CLIENT_DEPRECATE_EOF an OK packet with the 0xFE header (a row starting
// with 0xFE is at least 2^24 bytes long).
func (p Packet) IsTerminator(deprecateEOF bool) bool {
	if p.First() != EOFHeader {
		return false
	}
	if deprecateEOF {
		return p.Size < MaxPayload
	}
	return p.Size < 9
}

// Status returns the server status flags of an OK, EOF or terminator packet.
func (p Packet) Status() uint16 {
	h := p.Head
	if len(h) == 0 {
		return 0
	}
	if h[0] == EOFHeader && p.Size < 9 { // EOF: header, warnings(2), status(2)
		if len(h) >= 5 {
			return binary.LittleEndian.Uint16(h[3:5])
		}
		return 0
	}
	// OK (0x00 or 0xFE): header, affected rows, last insert id, status(2).
	pos := 1
	for range 2 {
		_, n := LenEncInt(h[pos:])
		if n == 0 {
			return 0
		}
		pos += n
	}
	if pos+2 > len(h) {
		return 0
	}
	return binary.LittleEndian.Uint16(h[pos : pos+2])
}

// ReadHeader reads one frame header.
func (c *Conn) ReadHeader() (size int, seq byte, err error) {
	if c.R.Buffered() >= 4 {
		// Nearly always, after the first packet of a response: read it in
		// place, without io.ReadFull's calls through an interface.
		h, _ := c.R.Peek(4)
		size, seq = int(h[0])|int(h[1])<<8|int(h[2])<<16, h[3]
		_, _ = c.R.Discard(4)
		return size, seq, nil
	}
	if _, err = io.ReadFull(c.R, c.hdr[:]); err != nil {
		return 0, 0, err
	}
	return int(c.hdr[0]) | int(c.hdr[1])<<8 | int(c.hdr[2])<<16, c.hdr[3], nil
}

// WriteHeader writes one frame header.
func (c *Conn) WriteHeader(size int, seq byte) error {
	c.hdr = [4]byte{byte(size), byte(size >> 8), byte(size >> 16), seq}
	if _, err := c.W.Write(c.hdr[:]); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}

// Relay reads one logical packet from c and writes it unchanged to dst,
// frame by frame, keeping its leading bytes for inspection. It allocates
// nothing.
func (c *Conn) Relay(dst *Conn) (Packet, error) {
	size, seq, err := c.ReadHeader()
	if err != nil {
		return Packet{}, err
	}
	return c.RelayBody(dst, size, seq)
}

// RelayBody is Relay for a packet whose first header was already read. A
// read that fails once the header is out returns ErrMidPacket.
func (c *Conn) RelayBody(dst *Conn, size int, seq byte) (Packet, error) {
	p := Packet{Seq: seq}
	for first := true; ; first = false {
		if err := dst.WriteHeader(size, seq); err != nil {
			return p, err
		}
		if first {
			var err error
			if p.Head, err = c.keepHead(size); err != nil {
				return p, midPacket(err)
			}
		}
		if err := copyN(dst.W, c.R, size); err != nil {
			return p, midPacket(err)
		}
		p.Size += size
		p.NextSeq = seq + 1
		if size < MaxPayload {
			return p, nil
		}
		var err error
		if size, seq, err = c.ReadHeader(); err != nil {
			return p, midPacket(err)
		}
	}
}

// ForwardBody copies to dst the payload of the frame whose header was just
// read (and whose header the caller wrote to dst), then any continuation
// frames of the same logical packet.
func (c *Conn) ForwardBody(dst *Conn, size int) error {
	for {
		if err := copyN(dst.W, c.R, size); err != nil {
			return err
		}
		if size < MaxPayload {
			return nil
		}
		var seq byte
		var err error
		if size, seq, err = c.ReadHeader(); err != nil {
			return err
		}
		if err := dst.WriteHeader(size, seq); err != nil {
			return err
		}
	}
}

// ForwardRest copies to dst what is left of a frame of frameSize bytes
// after the caller consumed some of it, then any continuation frames.
func (c *Conn) ForwardRest(dst *Conn, frameSize, consumed int) error {
	if err := copyN(dst.W, c.R, frameSize-consumed); err != nil {
		return err
	}
	if frameSize < MaxPayload {
		return nil
	}
	size, seq, err := c.ReadHeader()
	if err != nil {
		return err
	}
	if err := dst.WriteHeader(size, seq); err != nil {
		return err
	}
	return c.ForwardBody(dst, size)
}

// DiscardBody skips the payload of the frame whose header was just read and
// any continuation frames. It returns the sequence id of the last frame.
func (c *Conn) DiscardBody(size int, seq byte) (byte, error) {
	for {
		if _, err := c.R.Discard(size); err != nil {
			return seq, err
		}
		if size < MaxPayload {
			return seq, nil
		}
		var err error
		if size, seq, err = c.ReadHeader(); err != nil {
			return seq, err
		}
	}
}

// ReadBody reads the payload of the frame whose header was just read, and
// any continuation frames, into buf (grown as needed), up to limit bytes. It
// is for the small packets the proxy decodes itself.
func (c *Conn) ReadBody(buf []byte, size int, limit int) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf)+size > limit {
			return buf, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		start := len(buf)
		buf = append(buf, make([]byte, size)...)
		if _, err := io.ReadFull(c.R, buf[start:]); err != nil {
			return buf, err
		}
		if size < MaxPayload {
			return buf, nil
		}
		var err error
		if size, _, err = c.ReadHeader(); err != nil {
			return buf, err
		}
	}
}

// ErrTooLarge is returned by Read for a packet over its limit.
var ErrTooLarge = errors.New("packet too large")

// Write writes payload as one logical packet starting at sequence id seq,
// split into frames as the protocol requires. It returns the next sequence id.
func (c *Conn) Write(payload []byte, seq byte) (byte, error) {
	for {
		n := min(len(payload), MaxPayload)
		if err := c.WriteHeader(n, seq); err != nil {
			return seq, err
		}
		if _, err := c.W.Write(payload[:n]); err != nil {
			return seq, fmt.Errorf("%w: %w", ErrWrite, err)
		}
		seq++
		payload = payload[n:]
		if n < MaxPayload {
			return seq, nil
		}
	}
}

// Flush sends what is buffered.
func (c *Conn) Flush() error {
	if err := c.W.Flush(); err != nil {
		return fmt.Errorf("%w: %w", ErrWrite, err)
	}
	return nil
}

// FlushForReply is Flush for a request the peer answers (never for one it
// does not, like COM_STMT_CLOSE): on a plain TCP socket it returns once the
// reply starts to arrive, so the read that follows costs one system call
// instead of two (see direct.writeRequest). A failure after the request was
// written is left for that read to report. It must not overlap a read of c
// from another goroutine (the proxy reads a backend connection only from
// the goroutine that writes to it).
func (c *Conn) FlushForReply() error {
	if a, ok := c.Sock.(replyAwaiter); ok {
		a.setAwaitReply(true)
		defer a.setAwaitReply(false)
	}
	return c.Flush()
}

// replyAwaiter is a socket whose writes can wait for the reply.
type replyAwaiter interface{ setAwaitReply(on bool) }

func (c *Conn) keepHead(size int) ([]byte, error) {
	n := min(size, headSize, c.R.Size())
	b, err := c.R.Peek(n)
	if err != nil {
		return nil, err
	}
	return c.head[:copy(c.head[:], b)], nil
}

// copyN moves n bytes from r to w through r's buffer, without allocating.
func copyN(w *bufio.Writer, r *bufio.Reader, n int) error {
	for n > 0 {
		chunk := min(n, r.Size())
		if b := r.Buffered(); b > 0 && b < chunk {
			chunk = b
		}
		p, err := r.Peek(chunk)
		if err != nil {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("%w: %w", ErrWrite, err)
		}
		_, _ = r.Discard(chunk)
		n -= chunk
	}
	return nil
}

// LenEncInt decodes a length-encoded integer; n is 0 when b is too short.
func LenEncInt(b []byte) (v uint64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xFC:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(b[1:3])), 3
	case 0xFD:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xFE:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:9]), 9
	default:
		return uint64(b[0]), 1
	}
}

// ErrPacket builds an ERR packet payload (CLIENT_PROTOCOL_41 layout).
func ErrPacket(code uint16, state, message string) []byte {
	b := make([]byte, 0, 9+len(message))
	b = append(b, ERRHeader, byte(code), byte(code>>8), '#')
	b = append(b, state...)
	return append(b, message...)
}

// OKPacket builds a minimal OK packet payload with the given status.
func OKPacket(status uint16) []byte {
	return []byte{OKHeader, 0, 0, byte(status), byte(status >> 8), 0, 0}
}

// StmtClose builds the COM_STMT_CLOSE payload for statement id; the
// server sends no answer to it.
func StmtClose(id uint32) [5]byte {
	return [5]byte{comStmtClose, byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)}
}

// comStmtClose is COM_STMT_CLOSE's command byte.
const comStmtClose = 0x19
