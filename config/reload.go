package config

import "strconv"

// Change is a field whose new value a running process cannot take live: the
// listeners it has bound and the gossip identity it has announced.
type Change struct {
	Path     string // field path, e.g. "cluster.bind"
	Old, New string // the running and the requested value; never a secret
}

func (c Change) String() string { return c.Path + ": " + c.Old + " -> " + c.New + " (needs a restart)" }

// ForReload prepares a reload from running to next (both valid). It returns
// the config to apply — next, with every field that cannot change live kept
// at its running value, so that the process stays consistent with the
// sockets it holds — and the list of such fields whose value differed. The
// list is empty when next can be applied in full. Neither argument is
// modified.
//
// Fields that cannot change live: listen, admin_listen, log.format, whether
// cluster is present, cluster.name (the gossip node name) and cluster.bind.
// Everything else (backends, users, limits, health, log.level, admin_token,
// shutdown, the rest of cluster) is the business of the component that owns
// it.
func ForReload(running, next Config) (apply Config, restart []Change) {
	apply = next
	keep := func(path string, old, new string, set func(string)) {
		if old != new {
			restart = append(restart, Change{Path: path, Old: old, New: new})
			set(old)
		}
	}
	keep("listen", running.Listen, next.Listen, func(v string) { apply.Listen = v })
	keep("admin_listen", running.AdminListen, next.AdminListen, func(v string) { apply.AdminListen = v })
	keep("log.format", running.Log.Format, next.Log.Format, func(v string) { apply.Log.Format = v })
	// The clients' TLS certificate is loaded once at start: requiring TLS
	// on reload without it being offered would refuse every client.
	keep("tls.cert", running.TLS.Cert, next.TLS.Cert, func(v string) { apply.TLS.Cert = v })
	keep("tls.key", running.TLS.Key, next.TLS.Key, func(v string) { apply.TLS.Key = v })
	keep("tls.require", strconv.FormatBool(running.TLS.Require), strconv.FormatBool(next.TLS.Require),
		func(v string) { apply.TLS.Require = v == "true" })

	switch {
	case running.Cluster == nil && next.Cluster == nil:
	case running.Cluster == nil || next.Cluster == nil:
		restart = append(restart, Change{Path: "cluster", Old: presence(running.Cluster), New: presence(next.Cluster)})
		apply.Cluster = running.Cluster
	default:
		cl := *next.Cluster
		apply.Cluster = &cl
		keep("cluster.name", running.Cluster.Name, next.Cluster.Name, func(v string) { cl.Name = v })
		keep("cluster.bind", running.Cluster.Bind, next.Cluster.Bind, func(v string) { cl.Bind = v })
	}
	return apply, restart
}

func presence(c *Cluster) string {
	if c == nil {
		return "absent"
	}
	return "present"
}
