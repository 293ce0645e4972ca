// Package wire reads and writes MySQL protocol frames on a buffered
// connection without decoding what it only passes on.
//
// A frame is the 4-byte header (3-byte payload length, 1-byte sequence id)
// and its payload. A logical packet of 16 MiB or more spans several frames;
// every frame but the last carries exactly MaxPayload bytes. The proxy relays
// frames one by one, so memory per connection stays at the buffer sizes
// whatever the packet or result size.
//
// A Conn is used by one goroutine at a time (its session); it is not safe for
// concurrent use, except Close.
package wire
