package proxy

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
	"github.com/switchyard/switchyard/router"
)

// comStmtBulkExecute is MariaDB's COM_STMT_BULK_EXECUTE: one prepared
// statement run for an array of parameter rows (mysql_stmt_execute with
// STMT_ATTR_ARRAY_SIZE), offered to clients with
// MARIADB_CLIENT_STMT_BULK_OPERATIONS.
const comStmtBulkExecute = 0xFA

// bulkSendTypes is STMT_BULK_FLAG_CLIENT_SEND_TYPES: parameter types (2
// bytes each) follow the flags.
const bulkSendTypes = 128

// codeReadOnlyTx is ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, what a
// read-only session answers a write with.
const codeReadOnlyTx = 1792

// bulkHeadLen is the command byte, statement id (4) and flags (2).
const bulkHeadLen = 7

// stmtBulkExecute serves COM_STMT_BULK_EXECUTE. Bulk operations are
// INSERT, UPDATE, DELETE and REPLACE (with or without RETURNING): they go
// to the primary, and the answer (OK, ERR, or RETURNING's result set) is
// relayed as the server sends it.
func (s *Session) stmtBulkExecute(ctx context.Context, size int, seq byte) error {
	body, err := s.readBounded(size, seq, maxExecutePacket,
		fmt.Sprintf("COM_STMT_BULK_EXECUTE of more than %d bytes; send fewer rows per execute", maxExecutePacket))
	if body == nil {
		return err
	}
	if len(body) < bulkHeadLen {
		return s.reply(seq+1, wire.ErrPacket(mysql.ER_MALFORMED_PACKET, "HY000", "malformed COM_STMT_BULK_EXECUTE packet"))
	}
	id := binary.LittleEndian.Uint32(body[1:5])
	cs := s.stmt(id)
	if cs == nil {
		return s.reply(seq+1, errUnknownStmt(id, "mysqld_stmt_bulk_execute"))
	}
	flags := binary.LittleEndian.Uint16(body[5:7])
	if flags&bulkSendTypes != 0 && bulkHeadLen+2*cs.params <= len(body) {
		cs.bulkTypes = append(cs.bulkTypes[:0], body[bulkHeadLen:bulkHeadLen+2*cs.params]...)
	}
	conn, err := s.acquire(ctx, target{class: router.ClassWrite, consistency: s.consistency})
	if err != nil {
		return s.replyErr(seq+1, err)
	}
	// acquire never gives a statement that may write a replica connection,
	// even while the session holds one for a cursor (useOfHeld).
	bs, err := s.ensurePrepared(conn, cs)
	if err != nil {
		s.finishFailed(conn)
		return s.replyErr(seq+1, err)
	}
	binary.LittleEndian.PutUint32(body[1:5], bs.ID)
	s.writing = true // RETURNING answers with rows, whose EOF carries no GTID
	err = s.exchange(conn, withBulkTypes(body, cs.bulkTypes), seq, false)
	e := cs.effect
	e.write = true
	s.finish(conn, &e)
	s.count(cs.digest, cs.sql)
	return err
}

// withBulkTypes returns a bulk packet that carries parameter types: the
// server keeps the types of the last bulk execute per statement, and the
// backend connection (or statement) may be another than that of the
// client's last bulk execute, which sent them.
func withBulkTypes(body, types []byte) []byte {
	flags := binary.LittleEndian.Uint16(body[5:7])
	if flags&bulkSendTypes != 0 || len(types) == 0 {
		return body
	}
	out := make([]byte, 0, len(body)+len(types))
	out = append(out, body[:bulkHeadLen]...)
	binary.LittleEndian.PutUint16(out[5:7], flags|bulkSendTypes)
	out = append(out, types...)
	return append(out, body[bulkHeadLen:]...)
}
