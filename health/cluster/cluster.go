package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config is what a member needs: its identity, where to listen, whom to
// join, and the key when gossip is encrypted.
type Config struct {
	Name         string   // unique member name; "" means the bind address
	Bind         string   // host:port for gossip, TCP and UDP; port 0 picks one
	Join         []string // host:port of other members; unreachable ones are retried
	ExpectedSize int      // configured cluster size: joining is retried while fewer are alive
	Key          []byte   // 16, 24 or 32 bytes to encrypt gossip (AES-GCM); nil: clear text
}

// Backend is one member's view of one backend.
type Backend struct {
	Name    string        `json:"n"`
	Up      bool          `json:"u,omitempty"`
	DownFor time.Duration `json:"d,omitempty"` // how long it had been down when the view was published
	GTID    string        `json:"g,omitempty"` // its GTID position as the member last probed it
	Epoch   uint64        `json:"e,omitempty"` // the epoch recorded on it
	Replica bool          `json:"r,omitempty"` // up and replicating
}

// View is what one member publishes about itself and the backends. The
// health package fills it; this package only carries it.
type View struct {
	Member   string    `json:"m"`
	Backends []Backend `json:"k,omitempty"`
	Primary  string    `json:"pr,omitempty"` // the backend the member sees as primary; "" when none
	// Epoch is the newest recorded epoch the member knows, and the
	// primary it names.
	Epoch        uint64 `json:"e,omitempty"`
	EpochPrimary string `json:"p,omitempty"`
	Busy         bool   `json:"x,omitempty"` // running a failover or switchover
	Holding      bool   `json:"h,omitempty"` // holding writes (so a switchover can wait for every proxy)
	Acked        string `json:"a,omitempty"` // newest GTIDs it acknowledged to clients
	State        string `json:"st,omitempty"`

	// Set by Publish: the sender's start time and a counter, so that a
	// receiver keeps only the newest view even across a restart.
	Boot int64  `json:"b"`
	Seq  uint64 `json:"s"`

	// Received is when this member's view arrived (local clock); not sent.
	Received time.Time `json:"-"`
}

func (v View) newer(than View) bool {
	return v.Boot > than.Boot || v.Boot == than.Boot && v.Seq > than.Seq
}

// maxGossip is the largest view sent by gossip (piggybacked on UDP
// packets); a larger one goes to each member over TCP.
const maxGossip = 1000

// Cluster is this process's membership in the proxy cluster.
//
// Concurrency: every method is safe from any goroutine. The onUpdate
// callback runs on memberlist's goroutines and must not block.
type Cluster struct {
	name     string
	log      *slog.Logger
	ml       *memberlist.Memberlist
	queue    *memberlist.TransmitLimitedQueue
	keyring  *memberlist.Keyring // nil when gossip is clear text
	boot     int64
	onUpdate func(View)
	now      func() time.Time

	mu       sync.Mutex
	seq      uint64
	self     []byte          // own encoded view, for push/pull
	peers    map[string]View // newest view of each other member
	join     []string
	expected int
	large    []byte // pending oversize view for the sender

	wake chan struct{} // the sender has an oversize view to send
	stop chan struct{}
	wg   sync.WaitGroup
}

// New creates the member, binds its ports and starts joining cfg.Join in
// the background (retried while fewer than ExpectedSize are alive). It
// returns once listening; a member alone is not an error.
func New(cfg Config, log *slog.Logger, onUpdate func(View)) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onUpdate == nil {
		onUpdate = func(View) {}
	}
	host, portStr, err := net.SplitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind %q: %w", cfg.Bind, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: bind %q: bad port", cfg.Bind)
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Bind
	}
	c := &Cluster{
		name:     name,
		log:      log,
		boot:     time.Now().UnixNano(),
		onUpdate: onUpdate,
		now:      time.Now,
		peers:    map[string]View{},
		join:     slices.Clone(cfg.Join),
		expected: cfg.ExpectedSize,
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = name
	mc.BindAddr, mc.BindPort = host, port
	if host == "" {
		mc.BindAddr = "0.0.0.0"
	}
	if ip := net.ParseIP(mc.BindAddr); ip != nil && !ip.IsUnspecified() {
		mc.AdvertiseAddr, mc.AdvertisePort = mc.BindAddr, port
	}
	// A small cluster on a LAN: gossip often, so that views arrive within
	// a probe interval; anti-entropy (push/pull) every 10s.
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = 10 * time.Second
	mc.Delegate = &delegate{c: c}
	mc.LogOutput = logWriter{log: log}
	if len(cfg.Key) > 0 {
		kr, err := memberlist.NewKeyring(nil, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("cluster: key: %w", err)
		}
		mc.Keyring, c.keyring = kr, kr
	}
	c.queue = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return c.ml.NumMembers() },
		RetransmitMult: mc.RetransmitMult,
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml = ml
	c.wg.Go(c.joinLoop)
	c.wg.Go(c.sendLoop)
	return c, nil
}

// Name is this member's name.
func (c *Cluster) Name() string { return c.name }

// Addr is the address gossip is bound to (with the port picked when the
// configured one was 0).
func (c *Cluster) Addr() string { return nodeAddr(c.ml.LocalNode()) }

func nodeAddr(n *memberlist.Node) string {
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members is the number of members memberlist considers alive, this one
// included.
func (c *Cluster) Members() int { return c.ml.NumMembers() }

// Node is a member that gossip reaches: its name and gossip address.
type Node struct {
	Name string
	Addr string // host:port
}

// Alive returns the members memberlist considers alive or suspects (not
// yet dead, not left), this one included, sorted by name.
func (c *Cluster) Alive() []Node {
	var out []Node
	for _, n := range c.ml.Members() {
		out = append(out, Node{Name: n.Name, Addr: nodeAddr(n)})
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Publish sends v as this member's current view, replacing any earlier one
// still being gossiped. It never blocks on the network.
func (c *Cluster) Publish(v View) {
	c.mu.Lock()
	c.seq++
	v.Member, v.Boot, v.Seq = c.name, c.boot, c.seq
	b, err := json.Marshal(v)
	if err != nil {
		c.mu.Unlock()
		c.log.Error("cluster: encode view", "err", err)
		return
	}
	c.self = b
	large := len(b) > maxGossip
	if large {
		c.large = b
	}
	c.mu.Unlock()
	if large {
		select {
		case c.wake <- struct{}{}:
		default:
		}
		return
	}
	c.queue.QueueBroadcast(viewBroadcast(b))
}

// Peers returns the newest view of every other member received within
// maxAge, sorted by member name.
func (c *Cluster) Peers(maxAge time.Duration) []View {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]View, 0, len(c.peers))
	for _, v := range c.peers {
		if now.Sub(v.Received) <= maxAge {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b View) int { return strings.Compare(a.Member, b.Member) })
	return out
}

// SetJoin replaces the addresses joined when members are missing, and the
// expected size (a reload).
func (c *Cluster) SetJoin(addrs []string, expected int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.join, c.expected = slices.Clone(addrs), expected
}

// SetKey makes key the one gossip is encrypted with. Old keys stay
// installed, so members that have not reloaded yet are still understood.
// It fails when the cluster was started in clear text.
func (c *Cluster) SetKey(key []byte) error {
	if c.keyring == nil {
		return errors.New("cluster: gossip was started without a key; adding one needs a restart")
	}
	if err := c.keyring.AddKey(key); err != nil {
		return fmt.Errorf("cluster: key: %w", err)
	}
	return c.keyring.UseKey(key)
}

// Close leaves the cluster (telling the others, bounded) and stops.
func (c *Cluster) Close() error {
	if !c.stopLoops() {
		return nil
	}
	err := c.ml.Leave(time.Second)
	return errors.Join(err, c.ml.Shutdown())
}

// stopLoops stops the join and send loops once; false when they had
// been stopped already (by Close or Shutdown).
func (c *Cluster) stopLoops() bool {
	select {
	case <-c.stop:
		return false
	default:
	}
	close(c.stop)
	c.wg.Wait()
	return true
}

// Shutdown stops the member without telling the others it leaves: its
// name and address are taken over at once by a new process (an upgrade),
// which the peers then see as the same member, never gone. Close after
// Shutdown does nothing.
func (c *Cluster) Shutdown() error {
	if !c.stopLoops() {
		return nil
	}
	return c.ml.Shutdown()
}

// receive stores a view from another member if it is newer.
func (c *Cluster) receive(b []byte) {
	var v View
	if err := json.Unmarshal(b, &v); err != nil {
		c.log.Debug("cluster: undecodable view", "err", err)
		return
	}
	if v.Member == "" || v.Member == c.name {
		return
	}
	v.Received = c.now()
	c.mu.Lock()
	old, ok := c.peers[v.Member]
	if ok && !v.newer(old) {
		c.mu.Unlock()
		return
	}
	c.peers[v.Member] = v
	c.mu.Unlock()
	c.onUpdate(v)
}

// joinLoop joins the configured members at start and whenever fewer than
// the expected number are alive: members start in any order, and one
// declared dead (frozen, partitioned) is found again when it comes back.
func (c *Cluster) joinLoop() {
	t := time.NewTimer(0)
	defer t.Stop()
	warned := time.Time{}
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		addrs, expected := slices.Clone(c.join), c.expected
		c.mu.Unlock()
		self := c.Addr()
		addrs = slices.DeleteFunc(addrs, func(a string) bool { return a == self })
		if len(addrs) > 0 && c.ml.NumMembers() < max(expected, 2) {
			n, err := c.ml.Join(addrs)
			switch {
			case err != nil && n == 0:
				if time.Since(warned) > time.Minute {
					c.log.Info("cluster: no member reachable yet; retrying", "join", addrs, "err", err)
					warned = time.Now()
				}
			default:
				c.log.Debug("cluster: joined", "contacted", n, "members", c.ml.NumMembers())
			}
		}
		t.Reset(time.Second)
	}
}

// sendLoop sends oversize views to every member over TCP.
func (c *Cluster) sendLoop() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		c.mu.Lock()
		b := c.large
		c.large = nil
		c.mu.Unlock()
		if b == nil {
			continue
		}
		for _, n := range c.ml.Members() {
			if n.Name == c.name {
				continue
			}
			if err := c.ml.SendReliable(n, b); err != nil {
				c.log.Debug("cluster: send view", "to", n.Name, "err", err)
			}
		}
	}
}

// delegate is memberlist's view of us. Its methods run on memberlist's
// goroutines: they copy what they keep and never block.
type delegate struct{ c *Cluster }

func (d *delegate) NodeMeta(int) []byte { return nil }
func (d *delegate) NotifyMsg(b []byte)  { d.c.receive(b) } // Unmarshal copies
func (d *delegate) MergeRemoteState(b []byte, _ bool) {
	if len(b) > 0 {
		d.c.receive(b)
	}
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.c.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(bool) []byte {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	return bytes.Clone(d.c.self)
}

// viewBroadcast is this member's view in the gossip queue; a newer one
// replaces it (same name).
type viewBroadcast []byte

func (b viewBroadcast) Invalidates(other memberlist.Broadcast) bool {
	_, ok := other.(viewBroadcast)
	return ok
}
func (b viewBroadcast) Name() string    { return "view" }
func (b viewBroadcast) Message() []byte { return b }
func (b viewBroadcast) Finished()       {}

// logWriter turns memberlist's log lines ("2024/.. [WARN] memberlist: ...")
// into slog records: errors and warnings at Warn (a frozen or dead member
// is expected and reported elsewhere), the rest at Debug.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	switch {
	case strings.Contains(line, "[ERR]"), strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	}
	if i := strings.Index(line, "memberlist: "); i >= 0 {
		line = line[i+len("memberlist: "):]
	}
	w.log.Log(context.Background(), level, "memberlist: "+line)
	return len(p), nil
}
