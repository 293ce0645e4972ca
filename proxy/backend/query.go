package backend

import (
	"errors"
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/switchyard/switchyard/proxy/wire"
)

// QueryValue runs a proxy-made statement that returns one value (such as
// MASTER_GTID_WAIT) and returns the first column of the first row as text.
// It is for the proxy's own small statements on a connection it owns
// between client commands; a failure leaves the connection Broken.
func (c *Conn) QueryValue(sql string) (string, error) {
	v, err := c.queryValue(sql)
	if err != nil {
		c.Broken = true
	}
	return v, err
}

func (c *Conn) queryValue(sql string) (string, error) {
	payload := append([]byte{mysql.COM_QUERY}, sql...)
	if _, err := c.Write(payload, 0); err != nil {
		return "", err
	}
	if err := c.Flush(); err != nil {
		return "", err
	}
	p, err := c.ReadSmall()
	if err != nil {
		return "", err
	}
	if len(p) == 0 {
		return "", errors.New("empty response")
	}
	switch p[0] {
	case wire.ERRHeader:
		return "", fmt.Errorf("%s: %s", sql, p[3:])
	case wire.OKHeader:
		return "", fmt.Errorf("%s: returned no result set", sql)
	}
	columns, _ := wire.LenEncInt(p)
	for range columns + 1 { // column definitions and their EOF
		if _, err := c.ReadSmall(); err != nil {
			return "", err
		}
	}
	value, first := "", true
	for {
		p, err := c.ReadSmall()
		if err != nil {
			return "", err
		}
		if len(p) > 0 && p[0] == wire.ERRHeader {
			return "", fmt.Errorf("%s: %s", sql, p[3:])
		}
		if len(p) > 0 && p[0] == wire.EOFHeader && len(p) < 9 {
			return value, nil
		}
		if first && len(p) > 0 && p[0] != 0xFB { // 0xFB is NULL
			l, n := wire.LenEncInt(p)
			if n > 0 && uint64(len(p)-n) >= l {
				value = string(p[n : n+int(l)])
			}
		}
		first = false
	}
}
