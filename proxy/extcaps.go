package proxy

import (
	"encoding/binary"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/backend"
)

// MariaDB extends the capability flags to 64 bits. A server that leaves
// CLIENT_MYSQL (bit 0, CLIENT_LONG_PASSWORD) unset in its greeting puts
// bits 32-63 in the last 4 of the greeting's 10 reserved bytes, and a
// client that then also leaves bit 0 unset answers with its own in the last
// 4 of the handshake response's 23 reserved bytes. go-mysql knows neither,
// so the proxy patches the greeting (capsRewriter) and reads the client's
// answer off the wire (packetBounded).
//
// Offered: progress reports and bulk execution, both relayed as the server
// sends them. Not offered: MARIADB_CLIENT_CACHE_METADATA (backend
// connections share prepared statements between sessions, so the server
// would skip metadata one client has not seen yet) and
// MARIADB_CLIENT_EXTENDED_METADATA (the proxy's own result sets lack it).

// offeredExtCaps are the extended flags the proxy offers clients in front
// of primary version v: MariaDB's. With TLS on the listener the client's
// answer is encrypted inside go-mysql, out of the proxy's reach: only bulk
// execution is offered then, which needs no answer (backend connections
// always ask for it, backendExtCaps); progress reports would never come.
func offeredExtCaps(version string, tls bool) uint32 {
	switch {
	case !strings.Contains(version, "MariaDB"):
		return 0
	case tls:
		return backend.ExtBulkOperations
	}
	return backend.ExtBehavioral
}

// greetingExtOffset is where the extended flags sit in a HandshakeV10
// payload, counted from the low capability flags: flags(2), charset(1),
// status(2), high flags(2), scramble length(1), then the last 4 of 10
// reserved bytes.
const greetingExtOffset = 2 + 1 + 2 + 2 + 1 + 6

// responseExtOffset is where they sit in a HandshakeResponse41 payload:
// flags(4), max packet(4), collation(1), then the last 4 of 23 reserved bytes.
const responseExtOffset = 4 + 4 + 1 + 19

// clientExtCaps returns the extended flags in a client's handshake
// response head (its first responseExtOffset+4 bytes), or 0 when the
// client set CLIENT_MYSQL (it then sent none).
func clientExtCaps(head []byte) uint32 {
	if len(head) < responseExtOffset+4 || binary.LittleEndian.Uint32(head)&mysql.CLIENT_LONG_PASSWORD != 0 {
		return 0
	}
	return binary.LittleEndian.Uint32(head[responseExtOffset:])
}
