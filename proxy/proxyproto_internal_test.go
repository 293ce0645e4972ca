package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// proxyV2 builds a v2 header: command (0 LOCAL, 1 PROXY), family byte and
// the address block.
func proxyV2(cmd, fam byte, addrs []byte) []byte {
	b := append([]byte{}, proxyV2Sig...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)))
	return append(b, addrs...)
}

func TestReadProxyHeader(t *testing.T) {
	peer := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 5555}
	v4 := []byte{192, 0, 2, 7, 10, 0, 0, 2, 0x30, 0x39, 0x0c, 0xea} // 192.0.2.7:12345 → 10.0.0.2:3306
	v6 := make([]byte, 36)
	copy(v6, net.ParseIP("2001:db8::9"))
	binary.BigEndian.PutUint16(v6[32:], 443)
	for _, c := range []struct {
		name, in, want, err string
	}{
		{"v1 tcp4", "PROXY TCP4 192.0.2.7 10.0.0.2 12345 3306\r\n", "192.0.2.7:12345", ""},
		{"v1 tcp6", "PROXY TCP6 2001:db8::9 2001:db8::1 443 3306\r\n", "[2001:db8::9]:443", ""},
		{"v1 unknown keeps the peer", "PROXY UNKNOWN\r\n", peer.String(), ""},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::9 10.0.0.2 1 2\r\n", "", "bad source address"},
		{"v1 bad port", "PROXY TCP4 192.0.2.7 10.0.0.2 99999 3306\r\n", "", "bad source port"},
		{"v1 too few fields", "PROXY TCP4 192.0.2.7\r\n", "", "malformed"},
		{"v1 no CRLF", "PROXY TCP4 " + strings.Repeat("1", 200), "", "longer than"},
		{"v1 truncated", "PROXY TCP4 192.0", "", "truncated"},
		{"v2 tcp4", string(proxyV2(1, 0x11, v4)), "192.0.2.7:12345", ""},
		{"v2 tcp6", string(proxyV2(1, 0x21, v6)), "[2001:db8::9]:443", ""},
		{"v2 tcp4 with TLVs", string(proxyV2(1, 0x11, append(append([]byte{}, v4...), 0x04, 0, 1, 'x'))), "192.0.2.7:12345", ""},
		{"v2 local keeps the peer", string(proxyV2(0, 0x00, nil)), peer.String(), ""},
		{"v2 unspec keeps the peer", string(proxyV2(1, 0x00, nil)), peer.String(), ""},
		{"v2 short addresses", string(proxyV2(1, 0x11, v4[:6])), "", "short IPv4"},
		{"v2 bad command", string(proxyV2(7, 0x11, v4)), "", "command 7"},
		{"v2 truncated", string(proxyV2(1, 0x11, v4)[:20]), "", "truncated"},
		{"no header", "\x20\x00\x00\x01abcdef", "", "sent no header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readProxyHeader(bufio.NewReader(strings.NewReader(c.in)), peer)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || got.String() != c.want {
				t.Fatalf("got %v, %v; want %s", got, err, c.want)
			}
		})
	}
}

func TestLooksLikeProxyHeader(t *testing.T) {
	for in, want := range map[string]bool{
		"PROX": true, "\r\n\r\n": true, "\x20\x00\x00\x01": false, "PROB": false,
	} {
		if got := looksLikeProxyHeader([]byte(in)); got != want {
			t.Errorf("looksLikeProxyHeader(%q) = %v", in, got)
		}
	}
}

// FuzzProxyHeader: any bytes give an address or an error, never a panic,
// and never read past the header.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.7 10.0.0.2 12345 3306\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(1, 0x11, []byte{192, 0, 2, 7, 10, 0, 0, 2, 0x30, 0x39, 0x0c, 0xea}))
	f.Add(proxyV2(0, 0, nil))
	peer := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}
	f.Fuzz(func(t *testing.T, b []byte) {
		trailer := []byte("\x01\x00\x00\x00Z")
		r := bufio.NewReader(bytes.NewReader(append(append([]byte{}, b...), trailer...)))
		addr, err := readProxyHeader(r, peer)
		if err == nil && addr == nil {
			t.Fatal("no address and no error")
		}
	})
}
