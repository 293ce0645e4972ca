package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
)

func TestOfferedExtCaps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version string
		tls     bool
		want    uint32
	}{
		{"mariadb", "5.5.5-10.11.19-MariaDB-0+deb12u1-log", false, backend.ExtProgress | backend.ExtBulkOperations},
		{"mariadb behind tls: no progress, whose ask the proxy cannot read", "5.5.5-10.11.19-MariaDB", true, backend.ExtBulkOperations},
		{"mysql", "8.0.36", false, 0},
		{"unknown primary", "8.0.0-switchyard", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := offeredExtCaps(tc.version, tc.tls); got != tc.want {
				t.Fatalf("offeredExtCaps(%q, %v) = %#x, want %#x", tc.version, tc.tls, got, tc.want)
			}
		})
	}
}

// greeting is a HandshakeV10 packet (header included) as go-mysql writes it.
func greeting(caps uint32, salt []byte) []byte {
	p := []byte{0, 0, 0, 0, 10}
	p = append(p, "5.5.5-10.11.19-MariaDB\x00"...)
	p = binary.LittleEndian.AppendUint32(p, 7) // connection id
	p = append(p, salt[:8]...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 33)
	p = binary.LittleEndian.AppendUint16(p, mysql.SERVER_STATUS_AUTOCOMMIT)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(p, salt[8:]...)
	p = append(p, 0)
	p = append(p, mysql.AUTH_NATIVE_PASSWORD+"\x00"...)
	n := len(p) - 4
	p[0], p[1], p[2] = byte(n), byte(n>>8), byte(n>>16)
	return p
}

func TestPatchHandshakeExtCaps(t *testing.T) {
	salt := []byte("abcdefghijklmnopqrst")
	caps := uint32(mysql.CLIENT_LONG_PASSWORD | mysql.CLIENT_PROTOCOL_41 | mysql.CLIENT_PLUGIN_AUTH)
	for _, ext := range []uint32{0, backend.ExtBehavioral} {
		p := greeting(caps, salt)
		if err := patchHandshake(p, caps, ext, 7); err != nil {
			t.Fatal(err)
		}
		pos := 5 + bytes.IndexByte(p[5:], 0) + 1 + 4 + 8 + 1
		got := uint32(binary.LittleEndian.Uint16(p[pos:])) | uint32(binary.LittleEndian.Uint16(p[pos+5:]))<<16
		gotExt := binary.LittleEndian.Uint32(p[pos+greetingExtOffset:])
		wantCaps := caps
		if ext != 0 {
			wantCaps &^= mysql.CLIENT_LONG_PASSWORD // tells the client where the extended flags are
		}
		if got != wantCaps || gotExt != ext {
			t.Errorf("ext %#x: flags %#x, extended %#x; want %#x, %#x", ext, got, gotExt, wantCaps, ext)
		}
		if s := greetingSalt(p); !bytes.Equal(s, salt) {
			t.Errorf("greetingSalt = %q, want %q", s, salt)
		}
	}
}

func TestClientExtCaps(t *testing.T) {
	head := func(caps, ext uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, caps)
		b = binary.LittleEndian.AppendUint32(b, 1<<24)
		b = append(b, 33)
		b = append(b, make([]byte, 19)...)
		return binary.LittleEndian.AppendUint32(b, ext)
	}
	for _, tc := range []struct {
		name string
		head []byte
		want uint32
	}{
		{"mariadb client", head(mysql.CLIENT_PROTOCOL_41, 5), 5},
		{"CLIENT_MYSQL set: no extended flags", head(mysql.CLIENT_PROTOCOL_41|mysql.CLIENT_LONG_PASSWORD, 5), 0},
		{"short", head(mysql.CLIENT_PROTOCOL_41, 5)[:20], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientExtCaps(tc.head); got != tc.want {
				t.Fatalf("clientExtCaps = %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestWithBulkTypes(t *testing.T) {
	types := []byte{3, 0, 253, 0}
	noTypes := []byte{0xFA, 1, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9}
	got := withBulkTypes(noTypes, types)
	want := append([]byte{0xFA, 1, 0, 0, 0, 128, 0}, append(types, 0, 9, 9, 9, 9)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("withBulkTypes added types as %v, want %v", got, want)
	}
	withTypes := append([]byte{0xFA, 1, 0, 0, 0, 128, 0}, types...)
	if got := withBulkTypes(withTypes, []byte{1, 0, 1, 0}); !bytes.Equal(got, withTypes) {
		t.Fatalf("withBulkTypes changed a packet that has its types: %v", got)
	}
}
