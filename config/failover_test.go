package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFailoverDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Failover
	if !f.Auto || f.ConfirmAfter != 1500*time.Millisecond || f.Cooldown != 5*time.Minute ||
		f.HoldWritesTimeout != 10*time.Second || f.HoldWritesMax != 10000 || f.MaxCatchupWait != 10*time.Second ||
		f.AutoRejoin || f.SemiSync || f.ReplicationUser != "" {
		t.Errorf("defaults: %+v", f)
	}
}

func TestFailoverParse(t *testing.T) {
	c, err := Parse([]byte(minimal + "failover:\n  auto: false\n  confirm_after: 3s\n  cooldown: 0s\n" +
		"  auto_rejoin: true\n  replication_user: repl\n  replication_password: pw\n  semi_sync: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	f := c.Failover
	if f.Auto || f.ConfirmAfter != 3*time.Second || f.Cooldown != 0 || !f.AutoRejoin || f.ReplicationUser != "repl" ||
		f.ReplicationPassword != "pw" || !f.SemiSync || f.HoldWritesTimeout != 10*time.Second {
		t.Errorf("parsed: %+v", f)
	}
}

func TestFailoverBad(t *testing.T) {
	tests := []struct {
		name, yaml, path, want string
	}{
		{"confirm_after zero", "failover: {confirm_after: 0s}\n", "failover.confirm_after", "must be positive"},
		{"cooldown negative", "failover: {cooldown: -1s}\n", "failover.cooldown", "must not be negative"},
		{"hold timeout zero", "failover: {hold_writes_timeout: 0s}\n", "failover.hold_writes_timeout", "must be positive"},
		{"hold max negative", "failover: {hold_writes_max: -1}\n", "failover.hold_writes_max", "must not be negative"},
		{"catchup zero", "failover: {max_catchup_wait: 0s}\n", "failover.max_catchup_wait", "must be positive"},
		{"password without user", "failover: {replication_password: x}\n", "failover.replication_user", "set both or neither"},
		{"rejoin without user", "failover: {auto_rejoin: true}\n", "failover.replication_user", "needed by auto_rejoin"},
		{"unknown key", "failover: {confirm: 1s}\n", "failover", `unknown field "confirm"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(minimal + tt.yaml))
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 {
				t.Fatalf("want one problem, got %v", err)
			}
			if fe := ve.Errors[0]; fe.Path != tt.path || !strings.Contains(fe.Msg, tt.want) || fe.Line != 7 {
				t.Errorf("got line %d %s: %s; want %s ~%q", fe.Line, fe.Path, fe.Msg, tt.path, tt.want)
			}
		})
	}
}
