// Package config owns Switchyard's YAML schema: the struct tree (Config and
// its parts), every default (Default), strict decoding (Parse, Load) and
// validation (Config.Validate).
//
// Decoding starts from Default() and is strict: unknown keys, values of the
// wrong type and keys set twice are errors, because a misspelt knob that is
// silently ignored surfaces only in production. Validation reports every
// problem at once, as a *ValidationError of *FieldError entries that name the
// field path and, for parsed files, the line:
//
//	line 7: backends[1].address: "foo" is not host:port; write it like 127.0.0.1:3306 ...
//
// All errors caused by the file's content match errors.Is(err, ErrInvalid).
//
// Roles of backends are never configured: health discovers them.
//
// Concurrency: a Config is a plain value. Once Load or Parse returns it, it is
// treated as immutable and may be shared by any number of goroutines; code that
// needs a different config builds a new one rather than mutating a shared one.
// The package starts no goroutines and holds no global mutable state.
package config
