package proxy

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/switchyard/config/tlsconf"
	"github.com/switchyard/switchyard/proxy/backend"
	"github.com/switchyard/switchyard/router/classify"
)

// TestMayPipeline: only a plain read, by a session that holds nothing and
// carries no replayed state, may share a pipelined connection. The cases
// are real statements through the classifier and plan's own functions, so
// that a classifier change that makes a write look like a read fails here.
func TestMayPipeline(t *testing.T) {
	s := &Session{srv: &Server{classifier: classify.New(100), metrics: newMetrics()}}
	caseOf := func(sql string) pipelineCase {
		return s.pipelineCase(pipelinable(s.plan(sql)))
	}
	for _, tc := range []struct {
		name string
		sql  string
		edit func(*pipelineCase)
		want bool
	}{
		{"point select", "SELECT c FROM sbtest1 WHERE id = 7", nil, true},
		{"join", "SELECT a.x FROM a JOIN b ON a.id = b.id WHERE b.k = 3", nil, true},
		{"system variable", "SELECT @@tx_read_only", nil, true},
		{"insert", "INSERT INTO t VALUES (1)", nil, false},
		{"update", "UPDATE t SET a = 1", nil, false},
		{"select for update", "SELECT * FROM t WHERE id = 1 FOR UPDATE", nil, false},
		{"select into a variable", "SELECT a INTO @v FROM t", nil, false},
		{"user variable assignment", "SELECT @v := 1", nil, false},
		{"last insert id", "SELECT LAST_INSERT_ID()", nil, false},
		{"found rows", "SELECT FOUND_ROWS()", nil, false},
		{"show warnings", "SHOW WARNINGS", nil, false},
		{"named lock", "SELECT GET_LOCK('x', 1)", nil, false},
		{"connection id", "SELECT CONNECTION_ID()", nil, false},
		{"set", "SET sql_mode = ''", nil, false},
		{"use", "USE test", nil, false},
		{"begin", "BEGIN", nil, false},
		{"primary hint", "/* switchyard: primary */ SELECT 1", nil, false},
		{"in a transaction", "SELECT 1", func(c *pipelineCase) { c.holds = holdTx }, false},
		{"autocommit off", "SELECT 1", func(c *pipelineCase) { c.holds = holdNoAutocommit }, false},
		{"holding a connection", "SELECT 1", func(c *pipelineCase) { c.held = true }, false},
		{"pinned", "SELECT 1", func(c *pipelineCase) { c.pins = pinServerState }, false},
		{"replayed variables", "SELECT 1", func(c *pipelineCase) { c.varsKey = 42 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := caseOf(tc.sql)
			if tc.edit != nil {
				tc.edit(&pc)
			}
			if got := mayPipeline(pc); got != tc.want {
				t.Errorf("mayPipeline(%q) = %v, want %v", tc.sql, got, tc.want)
			}
		})
	}
}

// TestPipesLearnShapes: a shape is pipelined after quickRuns quick runs in
// a row; a slow run starts the count over; a demoted shape needs
// stallPenalty more.
func TestPipesLearnShapes(t *testing.T) {
	p := newPipes()
	p.configure(4, 10*time.Millisecond, time.Minute)
	const d = "select c from t where id = ?"
	for i := range quickRuns {
		if p.isQuick(d) {
			t.Fatalf("quick after %d runs, want %d", i, quickRuns)
		}
		p.learn(d, time.Millisecond)
	}
	if !p.isQuick(d) {
		t.Fatalf("not quick after %d quick runs", quickRuns)
	}
	p.learn(d, 20*time.Millisecond)
	if p.isQuick(d) {
		t.Fatal("still quick after a slow run")
	}
	for range quickRuns {
		p.learn(d, time.Millisecond)
	}
	p.demote(d)
	for i := range stallPenalty - 1 {
		p.learn(d, time.Millisecond)
		if p.isQuick(d) {
			t.Fatalf("quick again %d runs after a demotion, want %d", i+1, stallPenalty)
		}
	}
	p.learn(d, time.Millisecond)
	if !p.isQuick(d) {
		t.Fatalf("not quick %d quick runs after a demotion", stallPenalty)
	}
}

// TestPipeGroupPick: an idle connection first; a free slot is dialed only
// while the pool has room and no dial just failed; else the least busy
// connection, or none when all are full.
func TestPipeGroupPick(t *testing.T) {
	pool := backend.NewPool(backend.Key{Name: "db2"}, backend.Credential{}, tlsconf.Policy{}, backend.PoolConfig{Max: 4})
	g := &pipeGroup{pool: pool, slots: make([]atomic.Pointer[pipeConn], 3), dialing: make([]atomic.Bool, 3)}
	if pc, slot := g.pick(); pc != nil || slot < 0 {
		t.Fatalf("empty group: pick = %v, %d; want a slot to dial", pc, slot)
	}
	busy := &pipeConn{}
	busy.depth.Store(5)
	g.slots[0].Store(busy)
	g.failedAt.Store(time.Now().UnixNano())
	if pc, slot := g.pick(); pc != busy || slot != -1 {
		t.Fatalf("a dial just failed: pick = %v, %d; want the busy connection, no dial", pc, slot)
	}
	g.failedAt.Store(0)
	if _, slot := g.pick(); slot < 1 {
		t.Fatalf("room in the pool: pick slot %d, want a free slot to dial", slot)
	}
	idle := &pipeConn{}
	g.slots[2].Store(idle)
	if pc, slot := g.pick(); pc != idle || slot != -1 {
		t.Fatalf("an idle connection: pick = %v, %d; want it", pc, slot)
	}
	idle.depth.Store(maxPipelineDepth)
	busy.depth.Store(maxPipelineDepth)
	g.slots[1].Store(&pipeConn{})
	g.slots[1].Load().dead.Store(true)
	g.dialing[1].Store(true)
	if pc, slot := g.pick(); pc != nil || slot != -1 {
		t.Fatalf("every connection full, the free slot being dialed: pick = %v, %d; want none", pc, slot)
	}
}

// TestPipesSlowBoundFollowsLoad: under load, when every read waits for a
// CPU, a read counts as slow only well past the average; idle, past
// pool.pipeline_quick.
func TestPipesSlowBoundFollowsLoad(t *testing.T) {
	p := newPipes()
	p.configure(4, 10*time.Millisecond, time.Minute)
	for range 100 {
		p.noteRead(300 * time.Microsecond)
	}
	if got := p.slowBound(); got != 10*time.Millisecond {
		t.Fatalf("idle: slow bound %v, want pool.pipeline_quick (10ms)", got)
	}
	for range 200 {
		p.noteRead(90 * time.Millisecond)
	}
	if got := p.slowBound(); got < 300*time.Millisecond || got > 400*time.Millisecond {
		t.Fatalf("reads averaging 90ms: slow bound %v, want about %d times that", got, loadFactor)
	}
	const d = "select c from t where id = ?"
	for range quickRuns {
		p.learn(d, 95*time.Millisecond)
	}
	if !p.isQuick(d) {
		t.Error("a read as slow as every other under load was taken for a slow statement")
	}
	p.learn(d, 2*time.Second)
	if p.isQuick(d) {
		t.Error("a read 20 times the average under load still counts as quick")
	}
}
