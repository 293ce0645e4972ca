package proxy

import (
	"context"
	"net"
)

// PauseAccepting stops accepting clients without closing the sessions (an
// upgrade: the new process accepts on its copy of the listening socket,
// so no connection attempt is refused). It closes this process's listener;
// ResumeAccepting gives Serve one again (a rollback), and Drain or the end
// of Serve's context end the pause.
func (s *Server) PauseAccepting() {
	s.mu.Lock()
	if s.paused || s.ln == nil {
		s.mu.Unlock()
		return
	}
	s.paused = true
	s.resume = make(chan net.Listener, 1)
	ln := s.ln
	s.mu.Unlock()
	_ = ln.Close()
}

// ResumeAccepting ends a pause: Serve accepts on ln.
func (s *Server) ResumeAccepting(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.paused {
		_ = ln.Close()
		return
	}
	s.paused = false
	s.resume <- ln
}

// awaitResume is Serve's wait while paused: the next listener, or nil when
// Serve must end (not paused, ctx done, or draining).
func (s *Server) awaitResume(ctx context.Context) net.Listener {
	s.mu.Lock()
	paused, ch := s.paused, s.resume
	s.mu.Unlock()
	if !paused && ch == nil {
		return nil
	}
	select {
	case ln := <-ch:
		s.mu.Lock()
		s.ln, s.resume = ln, nil
		s.mu.Unlock()
		return ln
	case <-ctx.Done():
		return nil
	case <-s.drainCh:
		return nil
	}
}
