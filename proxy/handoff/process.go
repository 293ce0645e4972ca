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
	moves  sync.Mutex
}

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
// adopted the session. Sessions move one at a time.
func (c *Child) Move(id uint32, image []byte, files []*os.File) error {
	c.moves.Lock()
	defer c.moves.Unlock()
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
	m, extra, err := c.Recv(10 * time.Second)
	CloseAll(extra)
	switch {
	case err != nil:
		return err
	case m.Kind == KindAck && m.ID == id:
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
	c.moves.Lock()
	defer c.moves.Unlock()
	if err := c.Send(Msg{Kind: kind}); err != nil {
		return err
	}
	m, extra, err := c.Recv(10 * time.Second)
	CloseAll(extra)
	if err != nil {
		return err
	}
	if m.Kind != KindAck {
		return fmt.Errorf("handoff: unexpected %s after %s", m.Kind, kind)
	}
	return nil
}
