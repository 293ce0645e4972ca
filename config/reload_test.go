package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestForReload(t *testing.T) {
	base := func() Config {
		c, err := Parse([]byte(minimal + "cluster: {name: a, bind: 127.0.0.1:7946, expected_size: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name    string
		edit    func(c *Config)
		restart []string // paths that need a restart
		check   func(t *testing.T, running, apply Config)
	}{
		{"nothing changed", func(*Config) {}, nil, nil},
		{"live fields only", func(c *Config) {
			c.Backends = append(c.Backends, Backend{Name: "db3", Address: "127.0.0.1:3403"})
			c.Health.Interval = time.Second
			c.Log.Level = "debug"
			c.Cluster.Join = []string{"127.0.0.1:7947"}
		}, nil, func(t *testing.T, _, apply Config) {
			if len(apply.Backends) != 3 || apply.Health.Interval != time.Second || apply.Log.Level != "debug" ||
				len(apply.Cluster.Join) != 1 {
				t.Errorf("live changes not applied: %+v", apply)
			}
		}},
		{"listeners and gossip identity", func(c *Config) {
			c.Listen = "127.0.0.1:3307"
			c.AdminListen = "127.0.0.1:9091"
			c.Log.Format = "json"
			c.Cluster = &Cluster{Name: "b", Bind: "127.0.0.1:7950", ExpectedSize: 3}
			c.Users[0].Password = "new"
		}, []string{"listen", "admin_listen", "log.format", "cluster.name", "cluster.bind"}, func(t *testing.T, running, apply Config) {
			if apply.Listen != running.Listen || apply.AdminListen != running.AdminListen || apply.Log.Format != running.Log.Format ||
				apply.Cluster.Name != "a" || apply.Cluster.Bind != "127.0.0.1:7946" {
				t.Errorf("restart-only fields not kept: %+v %+v", apply, *apply.Cluster)
			}
			if apply.Cluster.ExpectedSize != 3 || apply.Users[0].Password != "new" {
				t.Errorf("live fields lost: %+v", apply)
			}
		}},
		{"client TLS", func(c *Config) {
			c.TLS = TLS{Cert: "/etc/s/cert.pem", Key: "/etc/s/key.pem", Require: true}
		}, []string{"tls.cert", "tls.key", "tls.require"}, func(t *testing.T, running, apply Config) {
			if apply.TLS != running.TLS {
				t.Errorf("tls = %+v, want the running %+v: the certificate is loaded at start", apply.TLS, running.TLS)
			}
		}},
		{"cluster removed", func(c *Config) { c.Cluster = nil }, []string{"cluster"}, func(t *testing.T, running, apply Config) {
			if apply.Cluster != running.Cluster {
				t.Errorf("cluster = %+v, want the running one", apply.Cluster)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			running, next := base(), base()
			tt.edit(&next)
			before := next // DeepEqual follows the pointer, so copy what it points to
			if next.Cluster != nil {
				cl := *next.Cluster
				before.Cluster = &cl
			}
			apply, restart := ForReload(running, next)
			var paths []string
			for _, c := range restart {
				paths = append(paths, c.Path)
				if c.Old == c.New {
					t.Errorf("%s listed with equal values %q", c.Path, c.Old)
				}
			}
			if !slices.Equal(paths, tt.restart) {
				t.Errorf("restart = %v, want %v", paths, tt.restart)
			}
			if !reflect.DeepEqual(next, before) {
				t.Errorf("ForReload modified its argument")
			}
			if len(tt.restart) == 0 && !reflect.DeepEqual(apply, next) {
				t.Errorf("apply = %+v, want next unchanged", apply)
			}
			if tt.check != nil {
				tt.check(t, running, apply)
			}
		})
	}
}
