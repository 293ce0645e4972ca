package bench

import (
	"fmt"
	"syscall"
)

// raiseNoFile raises this process's open-file limit to at least want: the
// soft limit up to the hard one, and the hard one too when allowed (root).
// idle_conns holds one descriptor per connection. It returns the soft limit
// in force afterwards, and an error when that is still below want.
func raiseNoFile(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	if lim.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	if lim.Cur < want {
		return lim.Cur, fmt.Errorf("open-file limit %d is below the %d needed (hard limit; run as root or raise ulimit -Hn)", lim.Cur, want)
	}
	return lim.Cur, nil
}
