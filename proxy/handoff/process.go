package handoff

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Child is the new process of an upgrade, seen from the old one.
type Child struct {
	*Conn
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the exit status, once exited is closed

	// Once the child is ready, one reader takes its answers: sessions
	// are sent without waiting for the previous one's ack (the moves of
	// many sessions overlap), and each waits for its own.
	reader  sync.Once
	mu      sync.Mutex
	waiting map[uint32]chan Msg // by session id
	ctl     chan Msg            // acks of ping and done
	gone    chan struct{}       // closed when the reader stops
	readErr error               // why, once gone is closed
	askMu   sync.Mutex          // one ping or done at a time
}

// answerWait bounds the wait for one answer of the child.
const answerWait = 30 * time.Second

// Start runs binary with args as the new process, its end of the socket
// pair named by EnvFD, its output where this process's goes.
func Start(binary string, args []string) (*Child, error) {
	conn, childEnd, err := Pair()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{childEnd} // descriptor 3
	cmd.Env = append(os.Environ(), EnvFD+"=3")
	err = cmd.Start()
	_ = childEnd.Close()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("handoff: start %s: %w", binary, err)
	}
	c := &Child{Conn: conn, cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// PID is the new process's id.
func (c *Child) PID() int { return c.cmd.Process.Pid }

// Exited is closed when the child has exited; ExitCode is then its code.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// ExitCode is the child's exit code once Exited is closed (-1 when a
// signal ended it).
func (c *Child) ExitCode() int { return c.cmd.ProcessState.ExitCode() }

// ExitStatus describes how the child ended, or "running".
func (c *Child) ExitStatus() string {
	select {
	case <-c.exited:
		if c.err == nil {
			return "exited with status 0"
		}
		return c.err.Error()
	default:
		return "running"
	}
}

// Kill ends a child the upgrade gave up on (a rollback) and waits for it,
// at most a few seconds.
func (c *Child) Kill() {
	_ = c.Close()
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
}

// Move sends one session and waits for the child's answer: nil when it
// adopted the session. Safe for concurrent use, after the child is ready.
func (c *Child) Move(id uint32, image []byte, files []*os.File) error {
	c.startReader()
	ch := make(chan Msg, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
	}()
	names := make([]string, len(files))
	for i := range files {
		names[i] = "client"
		if i > 0 {
			names[i] = "backend"
		}
	}
	if err := c.Send(Msg{Kind: KindSession, ID: id, Session: image, Files: names}, files...); err != nil {
		return err
	}
	m, err := c.answer(ch)
	switch {
	case err != nil:
		return err
	case m.Kind == KindAck:
		return nil
	case m.Kind == KindNack:
		return fmt.Errorf("the new process refused session %d: %s", id, m.Err)
	default:
		return fmt.Errorf("handoff: unexpected %s for session %d", m.Kind, id)
	}
}

// Ping checks that the child still answers.
func (c *Child) Ping() error { return c.ask(KindPing) }

// Finish tells the child the handoff is over and waits for its ack.
func (c *Child) Finish() error { return c.ask(KindDone) }

// ask sends a message of kind and waits for the child's ack.
func (c *Child) ask(kind string) error {
	c.startReader()
	c.askMu.Lock()
	defer c.askMu.Unlock()
	if err := c.Send(Msg{Kind: kind}); err != nil {
		return err
	}
	m, err := c.answer(c.ctl)
	if err != nil {
		return err
	}
	if m.Kind != KindAck {
		return fmt.Errorf("handoff: unexpected %s after %s", m.Kind, kind)
	}
	return nil
}

// answer waits for a message on ch, the reader's end, or answerWait.
func (c *Child) answer(ch <-chan Msg) (Msg, error) {
	t := time.NewTimer(answerWait)
	defer t.Stop()
	select {
	case m := <-ch:
		return m, nil
	case <-c.gone:
		return Msg{}, c.readErr
	case <-t.C:
		return Msg{}, fmt.Errorf("handoff: no answer from the new process in %v", answerWait)
	}
}

// startReader starts the goroutine that routes the child's answers; it
// ends when the socket fails or closes.
func (c *Child) startReader() {
	c.reader.Do(func() {
		c.waiting = map[uint32]chan Msg{}
		c.ctl = make(chan Msg, 1)
		c.gone = make(chan struct{})
		go func() {
			for {
				m, files, err := c.Recv(0)
				CloseAll(files)
				if err != nil {
					c.readErr = err
					close(c.gone)
					return
				}
				if m.ID == 0 {
					select {
					case c.ctl <- m:
					default: // nobody asked: dropped
					}
					continue
				}
				c.mu.Lock()
				ch := c.waiting[m.ID]
				c.mu.Unlock()
				if ch != nil {
					ch <- m // buffered, one answer per session
				}
			}
		}()
	})
}
