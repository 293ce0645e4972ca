// Command pipetest measures what pipelining reads saves a MySQL server:
// it sends point selects to one server for a while, either one at a time
// on each of many connections (what a TCP balancer passes through) or
// --batch at a time, written together, on each of a few (what Switchyard's
// pipelined reads do), and prints the answers a second and the server's
// CPU per answer, read from /proc for --pid.
//
//	pipetest --addr 127.0.0.1:3412 --pid $(cat db2/mariadbd.pid) --conns 256 --batch 1
//	pipetest --addr 127.0.0.1:3412 --pid $(cat db2/mariadbd.pid) --conns 8 --batch 32
//
// It expects test.sbtest1 with ids 1..--rows (switchyard-bench --prepare).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3412", "the server")
	pid := flag.Int("pid", 0, "the server's process id, for its CPU time")
	conns := flag.Int("conns", 256, "connections")
	batch := flag.Int("batch", 1, "selects written together on each connection, answers read after")
	rows := flag.Int("rows", 10000, "ids in test.sbtest1")
	dur := flag.Duration("duration", 5*time.Second, "how long to measure")
	flag.Parse()
	if err := run(*addr, *pid, *conns, *batch, *rows, *dur); err != nil {
		slog.Error("pipetest", "err", err)
		os.Exit(1)
	}
}

func run(addr string, pid, conns, batch, rows int, dur time.Duration) error {
	cs := make([]*conn, conns)
	for i := range cs {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		defer c.nc.Close()
		cs[i] = c
	}
	var answers atomic.Int64
	stop := make(chan struct{})
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	cpu0, start := cpuSeconds(pid), time.Now()
	for _, c := range cs {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
			var out []byte
			for {
				select {
				case <-stop:
					return
				default:
				}
				out = out[:0]
				for range batch {
					out = appendQuery(out, fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", 1+rng.IntN(rows)))
				}
				if _, err := c.nc.Write(out); err != nil {
					errs <- err
					return
				}
				for range batch {
					if err := c.readAnswer(); err != nil {
						errs <- err
						return
					}
				}
				answers.Add(int64(batch))
			}
		})
	}
	time.Sleep(dur)
	close(stop)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	secs, n := time.Since(start).Seconds(), float64(answers.Load())
	fmt.Printf("conns=%d batch=%d answers/s=%.0f server_cpu_us_per_answer=%.1f\n", conns, batch, n/secs, (cpuSeconds(pid)-cpu0)/n*1e6)
	return nil
}

// conn is a logged-in connection, read through a buffer.
type conn struct {
	nc  net.Conn
	r   *bufio.Reader
	buf []byte
}

func dial(addr string) (*conn, error) {
	c, err := client.Connect(addr, "app", "app", "test", func(c *client.Conn) error {
		c.UnsetCapability(mysql.CLIENT_DEPRECATE_EOF) // classic EOFs, as Switchyard's clients get
		return nil
	})
	if err != nil {
		return nil, err
	}
	nc := c.Conn.Conn
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10)}, nil
}

func appendQuery(out []byte, q string) []byte {
	n := len(q) + 1
	out = append(out, byte(n), byte(n>>8), byte(n>>16), 0, mysql.COM_QUERY)
	return append(out, q...)
}

// readAnswer reads one answer; wire.AnswerScan, the proxy's own, says
// where it ends.
func (c *conn) readAnswer() error {
	var scan wire.AnswerScan
	for {
		var h [4]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return err
		}
		n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
		if cap(c.buf) < n {
			c.buf = make([]byte, n)
		}
		p := c.buf[:n]
		if _, err := io.ReadFull(c.r, p); err != nil {
			return err
		}
		if scan.Next(wire.Packet{Size: n, Head: p[:min(n, 64)]}) {
			if scan.Malformed {
				return wire.ErrMalformed
			}
			return nil
		}
	}
}

// cpuSeconds is the user and system CPU time of process pid so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	user, _ := strconv.ParseFloat(f[11], 64)
	sys, _ := strconv.ParseFloat(f[12], 64)
	return (user + sys) / 100 // clock ticks of 1/100 s
}
