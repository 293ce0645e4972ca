package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every error that Parse, Load and
// Validate return because of the file's content, as opposed to an I/O error.
var ErrInvalid = errors.New("invalid config")

// FieldError is one problem in a config: where it is and what to do about it.
type FieldError struct {
	Line int    // 1-based line in the YAML file; 0 when unknown (defaults, built in code)
	Path string // field path such as "backends[1].address"; empty for file-level problems
	Msg  string // what is wrong and what to do
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// ValidationError holds every problem found in one config, in file order.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return "invalid config: " + e.Errors[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid config (%d problems):", len(e.Errors))
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap exposes the individual problems to errors.As and errors.Is.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		errs[i] = fe
	}
	return errs
}

// Is makes errors.Is(err, ErrInvalid) true even when Errors is empty.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// problems collects FieldErrors while a config is checked.
type problems []*FieldError

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p *problems) addLine(line int, path, format string, args ...any) {
	*p = append(*p, &FieldError{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil or a *ValidationError sorted by line (problems without a
// line, such as missing sections, come first), keeping discovery order
// within a line.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	sorted := slices.Clone(p)
	slices.SortStableFunc(sorted, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	return &ValidationError{Errors: sorted}
}

// with returns p followed by more.
func (p problems) with(more problems) problems { return append(slices.Clone(p), more...) }

// cover reports whether a problem of p is about the value at path or
// above it. An unknown key's problem names its parent mapping, whose other
// fields were decoded: it covers only the field it suggests instead (a
// misspelt "adress" leaves address empty, which is not news).
func (p problems) cover(path string) bool {
	for _, fe := range p {
		if strings.HasPrefix(fe.Msg, "unknown field") {
			if _, rest, ok := strings.Cut(fe.Msg, `did you mean "`); ok {
				if field, _, ok := strings.Cut(rest, `"`); ok && path == join(fe.Path, field) {
					return true
				}
			}
			continue
		}
		if fe.Path == "" {
			continue
		}
		if path == fe.Path || strings.HasPrefix(path, fe.Path+".") || strings.HasPrefix(path, fe.Path+"[") {
			return true
		}
	}
	return false
}

// join appends a field to a path ("" is the top level).
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
