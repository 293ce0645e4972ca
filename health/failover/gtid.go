package failover

import "github.com/switchyard/switchyard/internal/gtid"

// The failover executor speaks of flavors and positions in internal/gtid's
// terms; these names only keep its code short.
type (
	Flavor   = gtid.Flavor
	Position = gtid.Position
)

const (
	MariaDB = gtid.MariaDB
	MySQL   = gtid.MySQL
)
