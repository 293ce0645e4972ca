package parity_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/internal/testenv"
)

// TestCorpusParity sends one script of commands, byte for byte the same,
// to the primary directly and through switchyard, and compares what comes
// back, command by command: multi-statements, stored procedures, prepared
// statements with cursors and long data, warnings, transactions and every
// other command a client may send. The first command whose answer differs
// fails the test with both answers.
func TestCorpusParity(t *testing.T) {
	topo := testenv.Topology(t)
	proxy := testenv.Proxy(t, "")
	// Each run starts from the same state, whatever a failed run left.
	root := topo.DB(t, topo.Primary, "root", "", "test")
	clean := func() {
		for _, q := range []string{"DROP TABLE IF EXISTS corpus_t", "DROP PROCEDURE IF EXISTS corpus_p"} {
			if _, err := root.Exec(q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	clean()
	direct := runScript(t, topo.Primary)
	clean()
	proxied := runScript(t, proxy.Addr)
	clean()
	for i := range max(len(direct), len(proxied)) {
		var d, p string
		if i < len(direct) {
			d = direct[i]
		}
		if i < len(proxied) {
			p = proxied[i]
		}
		if d != p {
			t.Errorf("answers differ at command %d\n--- direct ---\n%s\n--- through switchyard ---\n%s", i+1, d, p)
		}
	}
}

// answer is how a command's response is read.
type answer int

const (
	results  answer = iota // OK, ERR or result sets, while more results exist
	binary_                // the same, rows in the binary protocol (COM_STMT_EXECUTE)
	one                    // a single packet (OK, ERR, EOF, a string)
	none                   // no response (COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE)
	prepared               // a prepare OK with its definitions
	rows                   // rows or definitions up to EOF (COM_STMT_FETCH, COM_FIELD_LIST)
)

// step is one command of the script. stmt names the prepared statement a
// command uses (its id is patched in at bytes 1-4) or, for a prepare, the
// one it defines.
type step struct {
	what    string // shown with the answer
	payload []byte
	read    answer
	stmt    string
	masked  bool // the answer's values vary between servers and runs: compare its shape only
}

func query(sql string) step { return step{what: sql, payload: append([]byte{mysql.COM_QUERY}, sql...)} }

func prepare(name, sql string) step {
	return step{what: "PREPARE " + sql, payload: append([]byte{mysql.COM_STMT_PREPARE}, sql...), read: prepared, stmt: name}
}

// execute runs a prepared statement with cursor flags and parameters
// (already encoded: NULL bitmap, bound flag, types, values).
func execute(name string, flags byte, params ...byte) step {
	p := []byte{mysql.COM_STMT_EXECUTE, 0, 0, 0, 0, flags, 1, 0, 0, 0}
	return step{what: "EXECUTE " + name, payload: append(p, params...), read: binary_, stmt: name}
}

func stmtCmd(what string, cmd byte, name string, read answer, rest ...byte) step {
	return step{what: what + " " + name, payload: append([]byte{cmd, 0, 0, 0, 0}, rest...), read: read, stmt: name}
}

func command(what string, read answer, payload ...byte) step {
	return step{what: what, payload: payload, read: read}
}

// corpus is the script. It ends as it starts: without its tables.
func corpus() []step {
	intParam := func(v uint32) []byte { // NULL bitmap, bound, LONG, value
		return binary.LittleEndian.AppendUint32([]byte{0, 1, mysql.MYSQL_TYPE_LONG, 0}, v)
	}
	stats := command("COM_STATISTICS", one, mysql.COM_STATISTICS)
	stats.masked = true
	procs := command("COM_PROCESS_INFO", results, mysql.COM_PROCESS_INFO)
	procs.masked = true
	return []step{
		command("COM_INIT_DB test", one, append([]byte{mysql.COM_INIT_DB}, "test"...)...),
		query("DROP TABLE IF EXISTS corpus_t"),
		query("DROP PROCEDURE IF EXISTS corpus_p"),
		query("CREATE TABLE corpus_t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20))"),
		query("INSERT INTO corpus_t (v) VALUES ('a'), ('b'), ('c')"),
		query("SELECT LAST_INSERT_ID(), ROW_COUNT()"),
		query("SELECT DATABASE(), @@autocommit"),
		// Multi-statements, one with an error: the error ends the packet.
		query("SET @v := 5; SELECT 1; SELEC 2; SELECT 3"),
		query("SELECT @v"),
		// Warnings belong to the statement before.
		query("SELECT CAST('abc' AS SIGNED)"),
		query("SHOW COUNT(*) WARNINGS"),
		query("SHOW WARNINGS"),
		query("SELECT CAST('abc' AS SIGNED); SHOW COUNT(*) WARNINGS; SHOW WARNINGS"),
		// A procedure with two result sets.
		query("CREATE PROCEDURE corpus_p() BEGIN SELECT 1 AS a; SELECT v FROM corpus_t ORDER BY id; END"),
		query("CALL corpus_p()"),
		// Prepared statements: parameters, a cursor fetched in parts, long data.
		prepare("sel", "SELECT v FROM corpus_t WHERE id = ?"),
		execute("sel", 0, intParam(2)...),
		execute("sel", 0, intParam(3)...),
		prepare("cur", "SELECT id, v FROM corpus_t ORDER BY id"),
		execute("cur", 1), // CURSOR_TYPE_READ_ONLY
		stmtCmd("COM_STMT_FETCH 2 rows", mysql.COM_STMT_FETCH, "cur", rows, 2, 0, 0, 0),
		stmtCmd("COM_STMT_FETCH 2 rows", mysql.COM_STMT_FETCH, "cur", rows, 2, 0, 0, 0),
		stmtCmd("COM_STMT_RESET", mysql.COM_STMT_RESET, "cur", one),
		stmtCmd("COM_STMT_CLOSE", mysql.COM_STMT_CLOSE, "cur", none),
		prepare("ins", "INSERT INTO corpus_t (v) VALUES (?)"),
		stmtCmd("COM_STMT_SEND_LONG_DATA", mysql.COM_STMT_SEND_LONG_DATA, "ins", none, append([]byte{0, 0}, "long"...)...),
		execute("ins", 0, 0, 1, mysql.MYSQL_TYPE_VAR_STRING, 0),
		query("SELECT id, v FROM corpus_t ORDER BY id"),
		// The other commands.
		command("COM_FIELD_LIST corpus_t", rows, append([]byte{mysql.COM_FIELD_LIST}, "corpus_t\x00"...)...),
		stats,
		procs,
		command("COM_DEBUG", one, mysql.COM_DEBUG),
		command("COM_REFRESH tables", one, mysql.COM_REFRESH, 0x04),
		command("COM_SET_OPTION multi-statements off", one, mysql.COM_SET_OPTION, 1, 0),
		query("SELECT 1; SELECT 2"),
		command("COM_SET_OPTION multi-statements on", one, mysql.COM_SET_OPTION, 0, 0),
		query("SELECT 1; SELECT 2"),
		command("COM_PING", one, mysql.COM_PING),
		// A transaction rolled back.
		query("BEGIN"),
		query("INSERT INTO corpus_t (v) VALUES ('tx')"),
		query("SELECT COUNT(*) FROM corpus_t"),
		query("ROLLBACK"),
		query("SELECT COUNT(*) FROM corpus_t"),
		// A reset forgets the session's variables and statements.
		command("COM_RESET_CONNECTION", one, mysql.COM_RESET_CONNECTION),
		query("SELECT @v, DATABASE()"),
		execute("sel", 0, intParam(1)...),
		query("DROP PROCEDURE corpus_p"),
		query("DROP TABLE corpus_t"),
	}
}

// runScript runs the corpus on a new connection to addr as app and
// returns one transcript per command.
func runScript(t *testing.T, addr string) []string {
	c := dialApp(t, addr)
	ids := map[string]uint32{}
	var out []string
	for _, s := range corpus() {
		payload := append([]byte(nil), s.payload...)
		if s.stmt != "" && s.read != prepared {
			binary.LittleEndian.PutUint32(payload[1:], ids[s.stmt])
		}
		c.write(payload)
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n", s.what)
		switch s.read {
		case results, binary_:
			c.results(&b, s.masked)
		case one:
			c.one(&b, s.masked)
		case prepared:
			ids[s.stmt] = c.prepared(&b)
		case rows:
			c.rows(&b)
		}
		text := b.String()
		if id, ok := ids[s.stmt]; ok && s.stmt != "" {
			// Statement ids are handles the server (or proxy) picks;
			// errors name them: compare the name instead.
			text = strings.ReplaceAll(text, fmt.Sprintf("(%d)", id), "("+s.stmt+")")
		}
		out = append(out, text)
	}
	return out
}

// rawConn speaks the client side of the protocol, for commands no driver sends.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

// clientFlags: protocol 4.1 with EOF packets, multi-statements and results.
const clientFlags = mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_SECURE_CONNECTION | mysql.CLIENT_PLUGIN_AUTH |
	mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_TRANSACTIONS | mysql.CLIENT_MULTI_STATEMENTS |
	mysql.CLIENT_MULTI_RESULTS | mysql.CLIENT_PS_MULTI_RESULTS | mysql.CLIENT_LONG_FLAG

func dialApp(t *testing.T, addr string) *rawConn {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawConn{t: t, nc: nc, r: bufio.NewReader(nc)}
	_, g := c.read()
	end := bytes.IndexByte(g[1:], 0) + 1
	salt := append(append([]byte{}, g[end+5:end+13]...), g[end+13+1+2+1+2+2+1+10:][:12]...)
	resp := binary.LittleEndian.AppendUint32(nil, clientFlags)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24)
	resp = append(resp, mysql.DEFAULT_COLLATION_ID)
	resp = append(resp, make([]byte, 23)...)
	resp = append(resp, "app\x00"...)
	auth := mysql.CalcNativePassword(salt, []byte("app"))
	resp = append(append(resp, byte(len(auth))), auth...)
	resp = append(resp, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
	c.writeSeq(1, resp)
	seq, p := c.read()
	if p[0] == mysql.EOF_HEADER { // an auth switch: answer with its salt
		name, rest, _ := bytes.Cut(p[1:], []byte{0})
		if string(name) != mysql.AUTH_NATIVE_PASSWORD || len(rest) < 20 {
			t.Fatalf("%s: auth switch to %q", addr, name)
		}
		c.writeSeq(seq+1, mysql.CalcNativePassword(rest[:20], []byte("app")))
		_, p = c.read()
	}
	if p[0] != mysql.OK_HEADER {
		t.Fatalf("%s: login as app: %q", addr, p)
	}
	return c
}

func (c *rawConn) writeSeq(seq byte, payload []byte) {
	n := len(payload)
	if _, err := c.nc.Write(append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawConn) write(payload []byte) { c.writeSeq(0, payload) }

func (c *rawConn) read() (byte, []byte) {
	c.t.Helper()
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	body := make([]byte, int(h[0])|int(h[1])<<8|int(h[2])<<16)
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[3], body
}

// statusShown are the status flags compared: those a client acts on.
const statusShown = mysql.SERVER_STATUS_IN_TRANS | mysql.SERVER_STATUS_AUTOCOMMIT |
	mysql.SERVER_MORE_RESULTS_EXISTS | mysql.SERVER_STATUS_CURSOR_EXISTS | mysql.SERVER_STATUS_LAST_ROW_SEND

// describe writes one packet that is not a row: OK, ERR or EOF. It
// returns the status flags of an OK or EOF.
func describe(b *strings.Builder, p []byte) uint16 {
	switch {
	case p[0] == mysql.OK_HEADER && len(p) >= 7:
		affected, n := lenEnc(p[1:])
		id, m := lenEnc(p[1+n:])
		pos := 1 + n + m
		st := binary.LittleEndian.Uint16(p[pos:])
		fmt.Fprintf(b, "  OK affected=%d insert_id=%d status=%#x warnings=%d\n", affected, id, st&statusShown, binary.LittleEndian.Uint16(p[pos+2:]))
		return st
	case p[0] == mysql.ERR_HEADER:
		fmt.Fprintf(b, "  ERR %d %s\n", binary.LittleEndian.Uint16(p[1:]), p[3:])
	case p[0] == mysql.EOF_HEADER && len(p) == 5:
		st := binary.LittleEndian.Uint16(p[3:])
		fmt.Fprintf(b, "  EOF warnings=%d status=%#x\n", binary.LittleEndian.Uint16(p[1:]), st&statusShown)
		return st
	default:
		fmt.Fprintf(b, "  packet %q\n", p)
	}
	return 0
}

// results reads OK, ERR or result sets while more results exist.
func (c *rawConn) results(b *strings.Builder, masked bool) {
	for {
		_, p := c.read()
		if p[0] == mysql.OK_HEADER || p[0] == mysql.ERR_HEADER {
			if describe(b, p)&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
				return
			}
			continue
		}
		columns, _ := lenEnc(p)
		fmt.Fprintf(b, "  %d columns:", columns)
		for range columns {
			_, d := c.read()
			fmt.Fprintf(b, " %s", columnName(d))
		}
		b.WriteString("\n")
		_, eof := c.read()
		st := describe(b, eof)
		if st&mysql.SERVER_STATUS_CURSOR_EXISTS != 0 {
			return // rows come by COM_STMT_FETCH
		}
		if c.rowsTo(b, masked)&mysql.SERVER_MORE_RESULTS_EXISTS == 0 {
			return
		}
	}
}

// rowsTo reads rows to their EOF (or an ERR) and returns its status.
func (c *rawConn) rowsTo(b *strings.Builder, masked bool) uint16 {
	n := 0
	for {
		_, p := c.read()
		if p[0] == mysql.ERR_HEADER || p[0] == mysql.EOF_HEADER && len(p) < 9 {
			if masked {
				fmt.Fprintf(b, "  (%s rows)\n", map[bool]string{true: "some", false: "no"}[n > 0])
			}
			return describe(b, p)
		}
		n++
		if !masked {
			fmt.Fprintf(b, "  row %q\n", p)
		}
	}
}

func (c *rawConn) one(b *strings.Builder, masked bool) {
	_, p := c.read()
	if masked && p[0] != mysql.ERR_HEADER {
		b.WriteString("  (a string)\n")
		return
	}
	describe(b, p)
}

func (c *rawConn) prepared(b *strings.Builder) uint32 {
	_, p := c.read()
	if p[0] != mysql.OK_HEADER || len(p) < 9 {
		describe(b, p)
		return 0
	}
	columns, params := binary.LittleEndian.Uint16(p[5:]), binary.LittleEndian.Uint16(p[7:])
	fmt.Fprintf(b, "  prepared: %d columns, %d parameters\n", columns, params)
	for _, n := range []uint16{params, columns} {
		if n > 0 {
			c.rows(b)
		}
	}
	return binary.LittleEndian.Uint32(p[1:])
}

// rows reads definitions or binary rows up to EOF.
func (c *rawConn) rows(b *strings.Builder) {
	for {
		_, p := c.read()
		if p[0] == mysql.ERR_HEADER || p[0] == mysql.EOF_HEADER && len(p) < 9 {
			describe(b, p)
			return
		}
		if p[0] == 3 && bytes.HasPrefix(p, []byte("\x03def")) {
			fmt.Fprintf(b, "  column %s\n", columnName(p))
			continue
		}
		fmt.Fprintf(b, "  row %q\n", p)
	}
}

// columnName returns a column definition's table.name and type.
func columnName(d []byte) string {
	var f [6][]byte // catalog, schema, table, org_table, name, org_name
	rest := d
	for i := range f {
		l, n := lenEnc(rest)
		if n == 0 || uint64(len(rest)-n) < l {
			return fmt.Sprintf("%q", d)
		}
		f[i], rest = rest[n:n+int(l)], rest[n+int(l):]
	}
	typ := byte(0)
	if len(rest) > 7 {
		typ = rest[7] // after the fixed-length marker, charset(2), length(4)
	}
	return fmt.Sprintf("%s.%s(type %d)", f[2], f[4], typ)
}

func lenEnc(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xFC:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xFD:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xFE:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), 9
	}
	return uint64(b[0]), 1
}
