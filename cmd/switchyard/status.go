package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/switchyard/switchyard/admin"
)

// tokenEnv names the environment variable `switchyard status` reads the
// admin token from when --token is not given; it keeps the token out of
// shell history and ps.
const tokenEnv = "SWITCHYARD_ADMIN_TOKEN"

// statusMain prints the topology and the busiest statements of a running
// instance, read from its admin API.
func statusMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchyard status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", "127.0.0.1:9090", "admin_listen of the instance: host:port or an http(s) URL")
	token := fs.String("token", os.Getenv(tokenEnv), "admin_token of the instance (default $"+tokenEnv+")")
	n := fs.Int("digests", 10, "how many of the busiest statements to show; 0 for none")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: switchyard status [--admin HOST:PORT] [--token TOKEN] [--digests N]\n\n"+
			"Prints the topology and the busiest statements of a running switchyard.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || *n < 0 || *n > 1000 {
		fs.Usage()
		return 2
	}
	c, err := admin.NewClient(*addr, *token)
	if err != nil {
		fmt.Fprintln(stderr, "switchyard status:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	topo, err := c.Topology(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "switchyard status:", err)
		return 1
	}
	if err := admin.WriteTopology(stdout, topo, time.Now()); err != nil {
		return 1
	}
	if *n == 0 {
		return 0
	}
	fmt.Fprintf(stdout, "\nbusiest statements (top %d by total time)\n", *n)
	d, err := c.Digests(ctx, *n)
	switch {
	case errors.Is(err, admin.ErrNotAvailable):
		fmt.Fprintln(stdout, "not collected by this instance")
	case err != nil:
		fmt.Fprintln(stderr, "switchyard status:", err)
		return 1
	default:
		if err := admin.WriteDigests(stdout, d); err != nil {
			return 1
		}
	}
	return 0
}
