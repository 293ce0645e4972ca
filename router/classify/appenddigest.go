package classify

// AppendDigest appends the normalized text of sql (what Digest returns) to
// dst, so that a caller counting statements by digest can look its table up
// without allocating a string per statement.
func AppendDigest(dst []byte, sql string) []byte {
	b, _ := normalize(dst, sql)
	return b
}
