package handoff

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// EnvFD names, in the new process's environment, the descriptor of its end
// of the socket pair.
const EnvFD = "SWITCHYARD_HANDOFF_FD"

// Kinds of message, in the order of the conversation (see the package doc).
const (
	KindHello     = "hello"
	KindReject    = "reject"
	KindListeners = "listeners"
	KindReady     = "ready"
	KindSession   = "session"
	KindAck       = "ack"
	KindNack      = "nack"
	KindDone      = "done"
	KindPing      = "ping" // answered with ack: the child is alive and reading
)

// Msg is a message's header. Fields a kind does not use stay empty.
type Msg struct {
	Kind    string `json:"kind"`
	Version string `json:"version,omitempty"` // hello: the state version the child reads
	PID     int    `json:"pid,omitempty"`     // hello: the child's pid
	Err     string `json:"err,omitempty"`     // reject, nack: why
	// listeners: the newest failover epoch the parent knows, and the
	// primary it names, so that the child never routes by an older one.
	Epoch        uint64 `json:"epoch,omitempty"`
	EpochPrimary string `json:"epoch_primary,omitempty"`
	// NextID (listeners) is the next client connection id the parent
	// would give, so that the child's new ids never repeat a moved one.
	NextID uint32 `json:"next_id,omitempty"`
	// Files names each descriptor the message carries, in order.
	Files []string `json:"files,omitempty"`
	// ID is the session's connection id (session, ack, nack).
	ID uint32 `json:"id,omitempty"`
	// Session is the session's image (package proxy owns its format).
	Session json.RawMessage `json:"session,omitempty"`
}

// maxMsg bounds one message: a session image with a few hundred prepared
// statements fits; a larger one is refused and the session stays put.
const maxMsg = 192 << 10

// maxFiles bounds the descriptors in one message.
const maxFiles = 16

// ErrTooLarge is a message over maxMsg or maxFiles.
var ErrTooLarge = errors.New("handoff: message too large")

// Conn is one end of the socket pair.
type Conn struct {
	uc   *net.UnixConn
	sent sync.Mutex
	rbuf []byte
	oob  []byte
}

func newConn(f *os.File) (*Conn, error) {
	defer f.Close()
	nc, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("handoff: socket: %w", err)
	}
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		_ = nc.Close()
		return nil, fmt.Errorf("handoff: descriptor is a %T, not a unix socket", nc)
	}
	return &Conn{uc: uc, rbuf: make([]byte, maxMsg), oob: make([]byte, syscall.CmsgSpace(4*maxFiles))}, nil
}

// Pair makes the socket pair: the parent's Conn and the child's end as a
// file for exec.Cmd.ExtraFiles (the caller closes it once the child runs).
func Pair() (*Conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("handoff: socketpair: %w", err)
	}
	c, err := newConn(os.NewFile(uintptr(fds[0]), "handoff-parent"))
	if err != nil {
		_ = syscall.Close(fds[1])
		return nil, nil, err
	}
	return c, os.NewFile(uintptr(fds[1]), "handoff-child"), nil
}

// Inherited returns the new process's end of the socket pair when it was
// started by an upgrade, or nil. It clears EnvFD so that a later upgrade
// of this process starts from a clean environment.
func Inherited() (*Conn, error) {
	v, ok := os.LookupEnv(EnvFD)
	if !ok {
		return nil, nil
	}
	_ = os.Unsetenv(EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("handoff: %s=%q is not a descriptor", EnvFD, v)
	}
	syscall.CloseOnExec(fd)
	return newConn(os.NewFile(uintptr(fd), "handoff"))
}

// Send writes m with files. The files stay open: the caller closes its
// copies when it no longer needs them (the receiver has its own).
func (c *Conn) Send(m Msg, files ...*os.File) error {
	if len(files) > maxFiles {
		return ErrTooLarge
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("handoff: encode %s: %w", m.Kind, err)
	}
	if len(b) > maxMsg {
		return ErrTooLarge
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	c.sent.Lock()
	defer c.sent.Unlock()
	_ = c.uc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.uc.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("handoff: send %s: %w", m.Kind, err)
	}
	return nil
}

// Recv reads the next message, waiting at most timeout (0: no limit). The
// caller owns the files.
func (c *Conn) Recv(timeout time.Duration) (Msg, []*os.File, error) {
	var dl time.Time
	if timeout > 0 {
		dl = time.Now().Add(timeout)
	}
	_ = c.uc.SetReadDeadline(dl)
	n, oobn, flags, _, err := c.uc.ReadMsgUnix(c.rbuf, c.oob)
	if err != nil {
		return Msg{}, nil, fmt.Errorf("handoff: receive: %w", err)
	}
	files, ferr := parseRights(c.oob[:oobn])
	if flags&(syscall.MSG_TRUNC|syscall.MSG_CTRUNC) != 0 {
		CloseAll(files)
		return Msg{}, nil, ErrTooLarge
	}
	if n == 0 {
		CloseAll(files)
		return Msg{}, nil, fmt.Errorf("handoff: receive: %w", errClosed)
	}
	if ferr != nil {
		CloseAll(files)
		return Msg{}, nil, ferr
	}
	var m Msg
	if err := json.Unmarshal(c.rbuf[:n], &m); err != nil {
		CloseAll(files)
		return Msg{}, nil, fmt.Errorf("handoff: decode: %w", err)
	}
	if len(files) != len(m.Files) {
		CloseAll(files)
		return Msg{}, nil, fmt.Errorf("handoff: %s carries %d descriptors, names %d", m.Kind, len(files), len(m.Files))
	}
	return m, files, nil
}

var errClosed = errors.New("the other process closed the socket")

// Close closes this end; the other end's Recv then fails.
func (c *Conn) Close() error { return c.uc.Close() }

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("handoff: control message: %w", err)
	}
	var files []*os.File
	for _, cm := range msgs {
		fds, err := syscall.ParseUnixRights(&cm)
		if err != nil {
			CloseAll(files)
			return nil, fmt.Errorf("handoff: rights: %w", err)
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "handoff-fd"))
		}
	}
	return files, nil
}

// CloseAll closes every file, ignoring errors: for a receiver that cannot
// use what it was sent (they were ours to drop).
func CloseAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}
