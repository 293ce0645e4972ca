package backend

import (
	"net"
	"time"
)

// keepAlive makes a backend connection whose host stopped answering fail
// after about 11 s of silence: a TCP keepalive probe after 5 s, then every
// 2 s, and the connection ends after 3 unanswered.
//
// Why: a backend host that vanishes (power, network) without closing its
// connections leaves a statement waiting for a reply that cannot come; with
// Go's default (15 s, then 9 probes 15 s apart) the client waits 2.5
// minutes. The host's kernel answers the probes whatever its server does,
// so a slow query or a busy server is never cut off this way: only a host
// that answers nothing at all.
var keepAlive = net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}

// dialer opens backend connections.
func dialer() *net.Dialer { return &net.Dialer{KeepAliveConfig: keepAlive} }
