package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/switchyard/switchyard/internal/gtid"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/proxy/wire"
)

// A session moves to a new process (switchyard upgrade) between two
// commands: its client socket, the backend connection it holds (with the
// transaction, temporary tables, locks and user variables that live there)
// and an image of everything the session knows (sessionImage). The old
// process asks each session to move (requestMove); the session's own
// goroutine exports itself when it next waits for a command, so a command
// under way always finishes where it started. A session that cannot move
// (TLS, a TLS backend connection, a refusal by the new process) stays and
// is served here until it ends.

// StateVersion names the format of sessionImage. A new process refuses an
// upgrade from a process whose version differs (the old one then keeps
// serving). Change it with every change to sessionImage's meaning. It is a
// variable so that a test can build a binary of another version
// (-ldflags "-X github.com/switchyard/switchyard/proxy.StateVersion=x").
var StateVersion = "1"

// sessionImage is what a session knows, in the form it crosses processes.
type sessionImage struct {
	ID          uint32 `json:"id"`
	User        string `json:"user"`
	Remote      string `json:"remote"`
	Caps        uint32 `json:"caps"`
	ExtCaps     uint32 `json:"ext_caps"`
	Collation   uint8  `json:"collation"`
	Consistency string `json:"consistency"`
	Salt        []byte `json:"salt"`

	DB           string     `json:"db"`
	Sets         []setImage `json:"sets,omitempty"`
	MultiStmtOff bool       `json:"multi_stmt_off,omitempty"`

	Holds     uint16 `json:"holds"`
	Pins      uint16 `json:"pins"`
	Status    uint16 `json:"status"`
	InsertID  uint64 `json:"insert_id,omitempty"`
	LastWrite string `json:"last_write,omitempty"`

	Stmts              []stmtImage `json:"stmts,omitempty"`
	NextStmt           uint32      `json:"next_stmt"`
	LastPrepared       uint32      `json:"last_prepared"`
	ChangeUserFailures int         `json:"change_user_failures,omitempty"`

	// Pending are bytes the client sent that the session has read but not
	// handled (a pipelining client's next commands): they go first.
	Pending []byte `json:"pending,omitempty"`

	Held *connImage `json:"held,omitempty"` // the second file, when set
}

type setImage struct {
	Text  string   `json:"text"`
	Names []string `json:"names,omitempty"`
}

type stmtImage struct {
	ID        uint32 `json:"id"`
	SQL       string `json:"sql"`
	Params    int    `json:"params"`
	Types     []byte `json:"types,omitempty"`
	Cursor    bool   `json:"cursor,omitempty"`
	LongData  bool   `json:"long_data,omitempty"`
	Key       string `json:"key,omitempty"`
	KeyDB     string `json:"key_db,omitempty"`
	BulkTypes []byte `json:"bulk_types,omitempty"`
}

// connImage is a held backend connection: the server's thread id and the
// state the proxy applied there, so that nothing is replayed in the new
// process (the server still has it all).
type connImage struct {
	Name         string                  `json:"name"`
	Address      string                  `json:"address"`
	ThreadID     uint32                  `json:"thread_id"`
	Capabilities uint32                  `json:"caps"`
	Epoch        uint64                  `json:"epoch"`
	OnPrimary    bool                    `json:"on_primary"`
	DB           string                  `json:"db"`
	VarsKey      uint64                  `json:"vars_key"`
	Tracking     bool                    `json:"tracking"`
	ReadOnly     bool                    `json:"read_only"`
	Flavor       gtid.Flavor             `json:"flavor"`
	Stmts        map[string]backend.Stmt `json:"stmts,omitempty"`
}

// ErrTLSSession: a TLS client's session state is inside crypto/tls, which
// cannot export it; the session finishes in the process it started in.
var ErrTLSSession = errors.New("a TLS session cannot move to another process")

// SessionMover sends a session to the new process: the image and its
// sockets (client first, then the held backend connection's). It returns
// nil only when the new process adopted the session; after any error the
// session stays here. Called from session goroutines, concurrently.
type SessionMover interface {
	Move(id uint32, image []byte, files []*os.File) error
}

// HandOffResult counts what HandOff did.
type HandOffResult struct {
	Moved  int // sessions now served by the new process
	TLS    int // TLS sessions that stay here until they end
	Failed int // sessions the move failed for, served here until they end
	Left   int // sessions still here when the window ended (mid-command or stayed)
}

// HandOff asks every session to move through mv, each between two
// commands, until none is left to move or ctx ends. Accepting must be
// paused first (PauseAccepting): new clients go to the new process. It may
// be called again to go on waiting for sessions that were mid-command;
// sessions move, each at its next command, until EndHandOff.
func (s *Server) HandOff(ctx context.Context, mv SessionMover) HandOffResult {
	s.mu.Lock()
	s.mover = mv
	s.mu.Unlock()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var res HandOffResult
		waiting := 0
		s.mu.Lock()
		for _, sess := range s.sessions {
			switch st := sess.requestMove(); st {
			case moveTLS:
				res.TLS++
			case moveFailed:
				res.Failed++
			default:
				waiting++
			}
		}
		s.mu.Unlock()
		// Handshakes under way register later and move too.
		s.mu.Lock()
		handshakes := int(s.active.Load()) - len(s.sessions)
		s.mu.Unlock()
		res.Moved = int(s.movedOut.Load())
		if waiting == 0 && handshakes <= 0 {
			return res
		}
		select {
		case <-ctx.Done():
			res.Left = waiting
			return res
		case <-tick.C:
		}
	}
}

// EndHandOff ends the moves: a session asked to move that has not moved
// yet stays in this process.
func (s *Server) EndHandOff() {
	s.mu.Lock()
	s.mover = nil
	s.mu.Unlock()
}

// NextID is the next client connection id this process would give; a new
// process continues from it (SetNextID), so that the ids of moved sessions
// and of new ones never collide.
func (s *Server) NextID() uint32 { return s.ids.n.Load() }

// SetNextID continues the connection ids from an old process's NextID.
func (s *Server) SetNextID(n uint32) { s.ids.n.Store(n) }

// moveState is where a session is in being moved.
type moveState uint8

const (
	moveNone      moveState = iota // not asked
	moveRequested                  // asked; it moves at its next wait for a command
	moveTLS                        // a TLS client: it stays
	moveFailed                     // the move failed: it stays
)

// requestMove asks the session to move and wakes it if it is waiting for
// a command. Any goroutine; s.srv.mu may be held.
func (s *Session) requestMove() moveState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.move != moveNone {
		return s.move
	}
	if _, ok := s.client.Conn.(*tls.Conn); ok {
		s.move = moveTLS
		s.srv.metrics.upgradeSessions.WithLabelValues("tls_stayed").Inc()
		return s.move
	}
	s.move = moveRequested
	if s.waiting {
		s.poked = true
		_ = s.client.Conn.SetReadDeadline(time.Unix(1, 0))
	}
	return s.move
}

// startWaiting marks the session as waiting for a command header; false
// when it must move first.
func (s *Session) startWaiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.move == moveRequested {
		return false
	}
	s.waiting = true
	return true
}

// stopWaiting ends the wait and reports whether requestMove set a past
// read deadline meanwhile.
func (s *Session) stopWaiting() (poked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting = false
	poked, s.poked = s.poked, false
	return poked
}

func (s *Session) moveRequested() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.move == moveRequested
}

// errMoveNow: the session was asked to move before it started waiting.
var errMoveNow = errors.New("session asked to move")

// rearmReadDeadline undoes the past deadline requestMove may have set.
func (s *Session) rearmReadDeadline() {
	s.idleArmed = time.Time{}
	if s.srv.settings().cfg.Limits.IdleTimeout > 0 {
		s.armIdleTimeout(time.Now())
		return
	}
	_ = s.client.Conn.SetReadDeadline(time.Time{})
}

// moveOut exports the session and hands it to the new process. It runs on
// the session's goroutine, between commands. True: the session is the new
// process's now and this one forgets it without closing anything the
// peers could see. False: it stays here, as it was.
func (s *Session) moveOut() bool {
	s.srv.mu.Lock()
	mv := s.srv.mover
	s.srv.mu.Unlock()
	err := errors.New("the upgrade ended")
	if mv != nil {
		var img []byte
		var files []*os.File
		img, files, err = s.export()
		if err == nil {
			err = mv.Move(s.id, img, files)
		}
		for _, f := range files {
			_ = f.Close()
		}
	}
	if err != nil {
		s.mu.Lock()
		s.move = moveFailed
		s.mu.Unlock()
		s.log.Warn("session stays in this process", "err", err)
		s.srv.metrics.upgradeSessions.WithLabelValues("failed").Inc()
		s.rearmReadDeadline()
		s.attachPending()
		return false
	}
	s.srv.movedOut.Add(1)
	s.srv.metrics.upgradeSessions.WithLabelValues("moved").Inc()
	// The new process holds its own descriptors: closing ours sends
	// nothing to the client or the server.
	if s.held != nil {
		s.held.Broken = true // not pooled here: it is the new process's
		s.held.Release()
		s.held = nil
	}
	s.client.R, s.client.W = nil, nil
	_ = s.client.Conn.Close()
	return true
}

// export writes the session's image and duplicates its sockets.
func (s *Session) export() ([]byte, []*os.File, error) {
	if _, ok := s.client.Conn.(*tls.Conn); ok {
		return nil, nil, ErrTLSSession
	}
	if s.client.W != nil && s.client.W.Buffered() > 0 {
		return nil, nil, errors.New("unsent bytes to the client")
	}
	nc := s.client.Conn
	if r, ok := nc.(wire.RawTCP); ok && r.RawTCP() != nil {
		nc = r.RawTCP()
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, nil, fmt.Errorf("client connection is a %T, not TCP", nc)
	}
	img := sessionImage{
		ID: s.id, User: s.user.Name, Remote: s.client.Conn.RemoteAddr().String(),
		Caps: s.caps, ExtCaps: s.extCaps, Collation: s.collation, Consistency: s.consistency, Salt: s.salt,
		DB: s.state.db, MultiStmtOff: s.state.multiStmtOff,
		Holds: uint16(s.holds), Pins: s.pins, Status: s.resp.status, InsertID: s.resp.insertID,
		NextStmt: s.nextStmt, LastPrepared: s.lastPrepared, ChangeUserFailures: s.changeUserFailures,
		Pending: append([]byte(nil), s.pending...),
	}
	if !s.lastWrite.IsEmpty() {
		img.LastWrite = s.lastWrite.String()
	}
	for _, st := range s.state.sets {
		img.Sets = append(img.Sets, setImage{Text: st.text, Names: st.names})
	}
	for id, cs := range s.stmts {
		img.Stmts = append(img.Stmts, stmtImage{ID: id, SQL: cs.sql, Params: cs.params, Types: cs.types,
			Cursor: cs.cursor, LongData: cs.longData, Key: cs.key, KeyDB: cs.keyDB, BulkTypes: cs.bulkTypes})
	}
	if s.client.R != nil {
		if n := s.client.R.Buffered(); n > 0 {
			b, _ := s.client.R.Peek(n)
			img.Pending = append(img.Pending, b...)
		}
	}
	var heldFile *os.File
	if c := s.held; c != nil {
		f, err := c.File()
		if err != nil {
			return nil, nil, err
		}
		heldFile = f
		ci := &connImage{Name: c.Name, Address: c.Address, ThreadID: c.ThreadID, Capabilities: c.Capabilities,
			Epoch: c.Epoch, OnPrimary: c.OnPrimary}
		if ap, ok := c.State.(*appliedState); ok {
			ci.DB, ci.VarsKey, ci.Tracking, ci.ReadOnly, ci.Flavor = ap.db, ap.varsKey, ap.tracking, ap.readOnly, ap.flavor
		}
		if len(c.Stmts) > 0 {
			ci.Stmts = make(map[string]backend.Stmt, len(c.Stmts))
			for k, v := range c.Stmts {
				ci.Stmts[k] = *v
			}
		}
		img.Held = ci
	}
	b, err := json.Marshal(img)
	if err != nil {
		if heldFile != nil {
			_ = heldFile.Close()
		}
		return nil, nil, err
	}
	cf, err := tc.File()
	if err != nil {
		if heldFile != nil {
			_ = heldFile.Close()
		}
		return nil, nil, err
	}
	files := []*os.File{cf}
	if heldFile != nil {
		files = append(files, heldFile)
	}
	return b, files, nil
}

// attachPending puts client bytes read but not handled back in front of
// the socket, for the next command header.
func (s *Session) attachPending() {
	if len(s.pending) == 0 {
		return
	}
	c := s.client
	var rest io.Reader = c.Sock
	if c.R != nil {
		rest = c.R // its buffered bytes come after the pending ones
	}
	c.R = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(s.pending), rest), clientReadBuffer+len(s.pending))
	s.pending = nil
}

// Adopt takes over a session an old process handed over: image is its
// sessionImage and files its sockets (this process owns them from now:
// they are closed on failure too). ctx is Serve's: the session ends with it.
func (s *Server) Adopt(ctx context.Context, image []byte, files []*os.File) (err error) {
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
		if err != nil {
			s.metrics.upgradeSessions.WithLabelValues("refused").Inc()
		}
	}()
	var img sessionImage
	if err := json.Unmarshal(image, &img); err != nil {
		return fmt.Errorf("session image: %w", err)
	}
	want := 1
	if img.Held != nil {
		want = 2
	}
	if len(files) != want {
		return fmt.Errorf("session %d: %d sockets, want %d", img.ID, len(files), want)
	}
	u, ok := s.settings().users[img.User]
	if !ok {
		return fmt.Errorf("session %d: user %q is not in this process's config", img.ID, img.User)
	}
	lastWrite, err := gtid.Parse(img.LastWrite)
	if err != nil {
		return fmt.Errorf("session %d: last write %q: %w", img.ID, img.LastWrite, err)
	}
	nc, err := net.FileConn(files[0])
	if err != nil {
		return fmt.Errorf("session %d: client socket: %w", img.ID, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	sess := &Session{
		srv: s, id: img.ID, user: u, caps: img.Caps, extCaps: img.ExtCaps, collation: img.Collation,
		consistency: img.Consistency, salt: img.Salt,
		holds: hold(img.Holds), pins: img.Pins,
		resp:     response{status: img.Status, insertID: img.InsertID},
		nextStmt: img.NextStmt, lastPrepared: img.LastPrepared, changeUserFailures: img.ChangeUserFailures,
		client:  wire.NewUnbuffered(nc),
		pending: img.Pending,
	}
	sess.log = s.log.With("conn_id", sess.id, "user", u.Name)
	sess.state.db, sess.state.multiStmtOff = img.DB, img.MultiStmtOff
	for _, st := range img.Sets {
		sess.state.sets = append(sess.state.sets, setStmt{text: st.Text, names: st.Names})
	}
	sess.state.rehash()
	sess.lastWrite = lastWrite
	for _, si := range img.Stmts {
		if sess.stmts == nil {
			sess.stmts = make(map[uint32]*clientStmt, len(img.Stmts))
		}
		st, t, e := sess.plan(si.SQL)
		digest := st.Digest
		sess.stmts[si.ID] = &clientStmt{sql: si.SQL, digest: digest, target: t, effect: e, params: si.Params,
			types: si.Types, cursor: si.Cursor, longData: si.LongData, key: si.Key, keyDB: si.KeyDB, bulkTypes: si.BulkTypes}
	}
	if ci := img.Held; ci != nil {
		like := &backend.Conn{Name: ci.Name, Address: ci.Address, ThreadID: ci.ThreadID, Capabilities: ci.Capabilities,
			Epoch: ci.Epoch, OnPrimary: ci.OnPrimary,
			State: &appliedState{db: ci.DB, varsKey: ci.VarsKey, tracking: ci.Tracking, readOnly: ci.ReadOnly, flavor: ci.Flavor}}
		if len(ci.Stmts) > 0 {
			like.Stmts = make(map[string]*backend.Stmt, len(ci.Stmts))
			for k, v := range ci.Stmts {
				like.Stmts[k] = &v
			}
		}
		conn, err := backend.Adopt(files[1], like)
		if err != nil {
			_ = nc.Close()
			return err
		}
		s.pools.adopt(conn, u, sess.caps, sess.extCaps, sess.collation)
		sess.held = conn
	}
	sess.idleOutsideTx.Store(sess.holds&(holdTx|holdNoAutocommit) == 0)
	sess.attachPending()
	s.active.Add(1)
	s.guard.admitUser(u.Name, 0) // counted, never refused: the client is in already
	if !s.register(sess) {
		s.guard.leaveUser(u.Name)
		s.active.Add(-1)
		sess.close()
		return errors.New("shutting down")
	}
	s.metrics.upgradeSessions.WithLabelValues("adopted").Inc()
	s.wg.Go(func() { s.serveSession(ctx, sess) })
	return nil
}
