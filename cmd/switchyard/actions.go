package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/switchyard/switchyard/admin"
)

// The operator's actions, as subcommands that call a running instance's
// admin API, so that curl and the token header are not needed:
//
//	switchyard switchover --to NAME      POST /switchover?target=NAME
//	switchyard drain NAME [--undo]       POST /backends/NAME/drain (undrain)
//	switchyard reset-cooldown            POST /failover/reset-cooldown
//
// Exit status: 0 done, 1 refused or failed (the message says why), 2 usage.

// actionFlags parses the flags every action takes and returns the client
// and the positional arguments; code is non-zero when the caller must
// return it.
func actionFlags(name, usage string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (c *admin.Client, rest []string, code int) {
	fs := flag.NewFlagSet("switchyard "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("admin", "127.0.0.1:9090", "admin_listen of the instance: host:port or an http(s) URL")
	token := fs.String("token", os.Getenv(tokenEnv), "admin_token of the instance (default $"+tokenEnv+")")
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: switchyard %s %s [--admin HOST:PORT] [--token TOKEN]\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	// Flags may follow the positional argument (switchyard drain db3 --undo).
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil, -1
			}
			return nil, nil, 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	c, err := admin.NewClient(*addr, *token)
	if err != nil {
		fmt.Fprintf(stderr, "switchyard %s: %v\n", name, err)
		return nil, nil, 2
	}
	return c, pos, 0
}

func switchoverMain(args []string, stdout, stderr io.Writer) int {
	var to string
	c, pos, code := actionFlags("switchover", "--to NAME", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the replica to promote")
	})
	if code != 0 || c == nil {
		return max(code, 0)
	}
	if to == "" || len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: switchyard switchover --to NAME [--admin HOST:PORT] [--token TOKEN]")
		return 2
	}
	// Bounded by the server: it answers when done or failed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := c.Switchover(ctx, to)
	for _, w := range res.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	for _, ch := range res.Changed {
		fmt.Fprintln(stdout, "changed:", ch)
	}
	if err != nil {
		fmt.Fprintln(stderr, "switchyard switchover:", err)
		return 1
	}
	fmt.Fprintf(stdout, "switchover done (%s): %s is the primary, epoch %d\n", res.Outcome, res.Target, res.Epoch)
	return 0
}

func drainMain(args []string, stdout, stderr io.Writer) int {
	var undo bool
	c, pos, code := actionFlags("drain", "NAME [--undo]", args, stderr, func(fs *flag.FlagSet) {
		fs.BoolVar(&undo, "undo", false, "put the backend back in rotation")
	})
	if code != 0 || c == nil {
		return max(code, 0)
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: switchyard drain NAME [--undo] [--admin HOST:PORT] [--token TOKEN]")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.SetDrained(ctx, pos[0], !undo); err != nil {
		fmt.Fprintln(stderr, "switchyard drain:", err)
		return 1
	}
	state := "drained: it gets no new work (undo: switchyard drain " + pos[0] + " --undo)"
	if undo {
		state = "back in rotation"
	}
	fmt.Fprintf(stdout, "%s %s\n", pos[0], state)
	return 0
}

func resetCooldownMain(args []string, stdout, stderr io.Writer) int {
	c, pos, code := actionFlags("reset-cooldown", "", args, stderr, nil)
	if code != 0 || c == nil {
		return max(code, 0)
	}
	if len(pos) > 0 {
		fmt.Fprintln(stderr, "usage: switchyard reset-cooldown [--admin HOST:PORT] [--token TOKEN]: unexpected "+strings.Join(pos, " "))
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.ResetCooldown(ctx); err != nil {
		fmt.Fprintln(stderr, "switchyard reset-cooldown:", err)
		return 1
	}
	fmt.Fprintln(stdout, "failover cooldown reset: the next primary failure may fail over at once")
	return 0
}
