package config

import (
	"encoding/hex"
	"fmt"
)

// nativeHashLen is the length of a mysql_native_password hash as
// PASSWORD() and mysql.user show it: '*' and 40 hex digits.
const nativeHashLen = 41

// IsNativeHash reports whether s is a mysql_native_password hash
// ("*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", SELECT PASSWORD('x')). A
// password of exactly that form is taken as a hash, as ProxySQL does.
func IsNativeHash(s string) bool {
	if len(s) != nativeHashLen || s[0] != '*' {
		return false
	}
	_, err := hex.DecodeString(s[1:])
	return err == nil
}

// NativeHash returns SHA1(SHA1(password)) when the user's password (once
// resolved) is given as a mysql_native_password hash.
func (u User) NativeHash() ([]byte, bool) {
	if !IsNativeHash(u.Password) {
		return nil, false
	}
	h, _ := hex.DecodeString(u.Password[1:])
	return h, true
}

// hashPluginProblem says what is wrong when a hash is given for a user
// whose clients must use another method ("" when nothing is).
func hashPluginProblem(u User) string {
	if !IsNativeHash(u.Password) || u.AuthPlugin == "" || u.AuthPlugin == "mysql_native_password" {
		return ""
	}
	return fmt.Sprintf("holds a mysql_native_password hash, which cannot check %s logins; "+
		"give the plain password or set auth_plugin: mysql_native_password", u.AuthPlugin)
}

// passwordSource is the field path of where the user's password comes from.
func passwordSource(i int, u User) string {
	switch {
	case u.PasswordEnv != "":
		return fmt.Sprintf("users[%d].password_env", i)
	case u.PasswordFile != "":
		return fmt.Sprintf("users[%d].password_file", i)
	}
	return fmt.Sprintf("users[%d].password", i)
}

// checkPasswordHash reports a hash written in the config that cannot serve
// the user's auth_plugin. Hashes from password_env or password_file are
// checked by ResolvePasswords.
func checkPasswordHash(p *problems, i int, u User) {
	if msg := hashPluginProblem(u); msg != "" {
		p.add(passwordSource(i, u), "%s", msg)
	}
}
