package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	// memberlist binds TCP and UDP on the same port: check both.
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			return addr
		}
	}
	t.Fatal("no free port for TCP and UDP")
	return ""
}

func logger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo})).With("member", name)
}

// start starts n members that join each other, with key (may be nil).
func start(t *testing.T, names []string, keys [][]byte) ([]*Cluster, []*atomic.Int64) {
	t.Helper()
	addrs := make([]string, len(names))
	for i := range addrs {
		addrs[i] = freeAddr(t)
	}
	var cls []*Cluster
	var updates []*atomic.Int64
	for i, name := range names {
		var n atomic.Int64
		c, err := New(Config{Name: name, Bind: addrs[i], Join: addrs, ExpectedSize: len(names), Key: keys[i]},
			logger(t, name), func(View) { n.Add(1) })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Logf("close %s: %v", name, err)
			}
		})
		cls = append(cls, c)
		updates = append(updates, &n)
	}
	return cls, updates
}

// waitFor polls cond every 20ms until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func publishAll(cls []*Cluster, round int) {
	for i, c := range cls {
		c.Publish(View{
			Backends: []Backend{{Name: "db1", Up: round == 0, DownFor: time.Duration(round) * time.Second}},
			Epoch:    uint64(round), EpochPrimary: fmt.Sprintf("db%d", i), Acked: "0-1-42", Primary: "db2",
		})
	}
}

func TestThreeMembersShareViews(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	cls, updates := start(t, []string{"a", "b", "c"}, [][]byte{key, key, key})
	waitFor(t, "3 members", func() bool {
		return cls[0].Members() == 3 && cls[1].Members() == 3 && cls[2].Members() == 3
	})
	// Views published each round reach every other member; the newest wins.
	for round := range 3 {
		publishAll(cls, round)
	}
	for i, c := range cls {
		waitFor(t, fmt.Sprintf("%s sees both peers' round 2", c.Name()), func() bool {
			peers := c.Peers(time.Minute)
			if len(peers) != 2 {
				return false
			}
			for _, v := range peers {
				if v.Epoch != 2 || v.Member == c.Name() || v.Received.IsZero() {
					return false
				}
			}
			return true
		})
		peers := c.Peers(time.Minute)
		if peers[0].Member > peers[1].Member {
			t.Errorf("peers not sorted: %v, %v", peers[0].Member, peers[1].Member)
		}
		v := peers[0]
		if len(v.Backends) != 1 || v.Backends[0].Name != "db1" || v.Backends[0].Up || v.Backends[0].DownFor != 2*time.Second ||
			v.Acked != "0-1-42" || v.EpochPrimary == "" || v.Primary != "db2" {
			t.Errorf("%d: view %+v", i, v)
		}
		if updates[i].Load() == 0 {
			t.Errorf("%s: onUpdate never called", c.Name())
		}
	}
	// Every member lists the three, by name, with their gossip addresses.
	for _, c := range cls {
		alive := c.Alive()
		if len(alive) != 3 {
			t.Fatalf("%s: alive %+v", c.Name(), alive)
		}
		for i, n := range alive {
			if n.Name != cls[i].Name() || n.Addr != cls[i].Addr() {
				t.Errorf("%s: alive[%d] = %+v, want %s at %s", c.Name(), i, n, cls[i].Name(), cls[i].Addr())
			}
		}
	}
	// A view older than maxAge does not count.
	time.Sleep(50 * time.Millisecond)
	if got := cls[0].Peers(10 * time.Millisecond); len(got) != 0 {
		t.Errorf("stale views returned: %d", len(got))
	}
}

func TestOversizeViewGoesOverTCP(t *testing.T) {
	cls, _ := start(t, []string{"a", "b"}, [][]byte{nil, nil})
	waitFor(t, "2 members", func() bool { return cls[0].Members() == 2 && cls[1].Members() == 2 })
	var backends []Backend
	for i := range 60 {
		backends = append(backends, Backend{Name: fmt.Sprintf("backend-%02d", i), Up: true, GTID: "0-1-1234567"})
	}
	cls[0].Publish(View{Backends: backends, Epoch: 7})
	waitFor(t, "the large view", func() bool {
		p := cls[1].Peers(time.Minute)
		return len(p) == 1 && p[0].Epoch == 7 && len(p[0].Backends) == 60
	})
}

func TestWrongKeyIsolates(t *testing.T) {
	k1 := []byte("0123456789abcdef")
	k2 := []byte("fedcba9876543210")
	cls, _ := start(t, []string{"a", "b"}, [][]byte{k1, k2})
	publishAll(cls, 1)
	time.Sleep(1500 * time.Millisecond) // long enough for several gossip rounds and a join retry
	publishAll(cls, 2)
	time.Sleep(300 * time.Millisecond)
	for _, c := range cls {
		if n := c.Members(); n != 1 {
			t.Errorf("%s: %d members with mismatched keys", c.Name(), n)
		}
		if p := c.Peers(time.Minute); len(p) != 0 {
			t.Errorf("%s received views across keys: %+v", c.Name(), p)
		}
	}
}

func TestRestartedMemberReplacesItsView(t *testing.T) {
	c, _ := start(t, []string{"a"}, [][]byte{nil})
	old := View{Member: "b", Boot: 100, Seq: 50, Epoch: 1}
	c[0].receive(mustJSON(t, old))
	c[0].receive(mustJSON(t, View{Member: "b", Boot: 100, Seq: 49, Epoch: 9})) // older: ignored
	if p := c[0].Peers(time.Minute); len(p) != 1 || p[0].Epoch != 1 {
		t.Fatalf("after an older view: %+v", p)
	}
	c[0].receive(mustJSON(t, View{Member: "b", Boot: 200, Seq: 1, Epoch: 2})) // restarted: seq back to 1
	if p := c[0].Peers(time.Minute); len(p) != 1 || p[0].Epoch != 2 {
		t.Fatalf("after a restart: %+v", p)
	}
	c[0].receive(mustJSON(t, View{Member: "a", Boot: 300, Seq: 1})) // our own name: ignored
	c[0].receive([]byte("{not json"))
	if p := c[0].Peers(time.Minute); len(p) != 1 {
		t.Fatalf("own or bad view stored: %+v", p)
	}
}

func mustJSON(t *testing.T, v View) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
