package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes and validates the YAML file at path. See Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// validateLenient validates what of data decodes, ignoring unknown keys, so
// that a file with both an unknown key and a bad value reports both in one
// run rather than in two rounds. Fields the walker refused (a wrong type)
// keep their defaults; what validation says under their paths is dropped,
// being about the default, not the file.
func validateLenient(data []byte, w walker) problems {
	c := Default()
	err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&c)
	if te, ok := errors.AsType[*yaml.TypeError](err); err != nil && (!ok || slices.ContainsFunc(te.Errors, func(e string) bool {
		return strings.Contains(e, "already defined")
	})) {
		// Nothing reliable was decoded (yaml drops a mapping with a key
		// set twice): the walker's problems are all there is to say.
		return nil
	}
	var out problems
	for _, fe := range c.validate().withLines(w.lines) {
		if !w.problems.cover(fe.Path) {
			out = append(out, fe)
		}
	}
	return out
}

// Parse decodes YAML on top of Default() and validates the result.
//
// Decoding is strict: an unknown key, a value of the wrong type or a key set
// twice is an error, because a misspelt knob that is silently ignored is a
// production incident waiting to happen. Durations are Go durations ("500ms",
// "2s"). Every problem is reported at once as a *ValidationError whose entries
// name the field path and the line ("line 7: backends[1].address: ...").
// On error the returned Config is the zero value.
func Parse(data []byte) (Config, error) {
	// The node tree gives lines for field paths; the typed decode below
	// gives the values. Both read the same bytes.
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	switch err := dec.Decode(&root); {
	case errors.Is(err, io.EOF):
		// An empty file is all defaults; Validate says what is missing.
	case err != nil:
		return Config{}, syntaxError(err)
	default:
		var extra yaml.Node
		if err := dec.Decode(&extra); err == nil {
			return Config{}, &ValidationError{Errors: []*FieldError{{Line: extra.Line,
				Msg: "a second YAML document (---) starts here; a config file holds exactly one"}}}
		} else if !errors.Is(err, io.EOF) {
			return Config{}, syntaxError(err)
		}
	}

	w := walker{lines: map[string]int{}, budget: walkBudget}
	if root.Kind != 0 {
		w.walk(&root, reflect.TypeFor[Config](), "")
	}
	if len(w.problems) > 0 {
		return Config{}, w.problems.with(validateLenient(data, w)).err()
	}

	c := Default()
	if root.Kind != 0 {
		strict := yaml.NewDecoder(bytes.NewReader(data))
		strict.KnownFields(true)
		if err := strict.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			// The walker checks what the decoder checks, so this is a safety
			// net for what it cannot see (such as alias expansion limits).
			return Config{}, decodeError(err)
		}
	}

	if err := c.validate().withLines(w.lines).err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// syntaxError turns a yaml parse error ("yaml: line 3: did not find expected
// key") into a FieldError with the line split out.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(n); err == nil {
				line, msg = l, after
			}
		}
	}
	return &ValidationError{Errors: []*FieldError{{Line: line, Msg: "YAML syntax: " + msg}}}
}

// decodeError converts a *yaml.TypeError (one "line N: ..." string per
// problem) into a *ValidationError.
func decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return syntaxError(err)
	}
	var p problems
	for _, s := range te.Errors {
		fe := syntaxError(errors.New(s)).(*ValidationError).Errors[0]
		fe.Msg = strings.TrimPrefix(fe.Msg, "YAML syntax: ")
		p = append(p, fe)
	}
	return p.err()
}

// walkBudget bounds the nodes the walker visits: merge keys can refer to each
// other so that a small file expands exponentially. Past the budget the walk
// stops and the decoder's own alias limits decide.
const walkBudget = 100_000

// walker checks a yaml.Node tree against the Config type — unknown keys,
// duplicate keys, wrong kinds, scalars that do not decode — and records the
// line of every field path it sees, so that semantic problems found later by
// validate can name a line too.
type walker struct {
	lines    map[string]int
	problems problems
	budget   int
}

var durationType = reflect.TypeFor[time.Duration]()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if w.budget--; w.budget < 0 {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		w.walk(n.Alias, t, path)
		return
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // leaves the default (or nil) in place
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		if n.Kind != yaml.MappingNode {
			w.problems.addLine(n.Line, path, "expected a mapping of %s, got %s", fieldList(t), kindName(n))
			return
		}
		w.mapping(n, t, path, map[string]int{})
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.problems.addLine(n.Line, path, "expected a list, got %s; write one item per line starting with \"- \"", kindName(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.problems.addLine(n.Line, path, "expected %s, got %s", typeName(t), kindName(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.problems.addLine(n.Line, path, "%q is not %s; %s", n.Value, typeName(t), typeHint(t))
		}
	}
}

// mapping walks the pairs of a mapping node that decodes into struct type t.
// seen maps each key already set to its line, across merge keys ("<<").
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string, seen map[string]int) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.merge(v, t, path, seen)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.problems.addLine(k.Line, path, "a key must be a plain name, got %s", kindName(k))
			continue
		}
		p := joinPath(path, k.Value)
		f, ok := fieldByTag(t, k.Value)
		if !ok {
			msg := fmt.Sprintf("unknown field %q", k.Value)
			if s := suggest(t, k.Value); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			w.problems.addLine(k.Line, path, "%s (known fields: %s)", msg, fieldList(t))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			if first != 0 {
				w.problems.addLine(k.Line, p, "set twice (first on line %d); keep one", first)
			}
			continue // a merged value that an explicit key overrides
		}
		seen[k.Value] = k.Line
		w.lines[p] = k.Line
		w.walk(v, f.Type, p)
	}
}

// merge handles "<<: *anchor" and "<<: [*a, *b]". Keys from a merge never
// count as duplicates: overriding merged keys is what merges are for.
func (w *walker) merge(v *yaml.Node, t reflect.Type, path string, seen map[string]int) {
	if w.budget--; w.budget < 0 {
		return
	}
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	sub := map[string]int{}
	for k := range seen {
		sub[k] = 0 // already set explicitly: merged value loses, no complaint
	}
	switch v.Kind {
	case yaml.MappingNode:
		w.mapping(v, t, path, sub)
	case yaml.SequenceNode:
		for _, item := range v.Content {
			w.merge(item, t, path, seen)
		}
	default:
		w.problems.addLine(v.Line, path, "a merge key (<<) needs a mapping or a list of mappings, got %s", kindName(v))
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fieldByTag finds the struct field whose yaml tag name is key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tagName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldList(t reflect.Type) string {
	var names []string
	for i := range t.NumField() {
		if n := tagName(t.Field(i)); n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// suggest returns the known key closest to a misspelt one, or "".
func suggest(t reflect.Type, key string) string {
	best, bestD := "", 3 // at most two edits away
	for i := range t.NumField() {
		n := tagName(t.Field(i))
		if n == "" {
			continue
		}
		if d := editDistance(strings.ToLower(key), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	default:
		return "something else"
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.String:
		return "a string"
	default:
		return t.String()
	}
}

func typeHint(t reflect.Type) string {
	switch {
	case t == durationType:
		return "write a duration with its unit, such as 500ms, 2s or 1m"
	case t.Kind() == reflect.Bool:
		return "write true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "write a whole number such as 100"
	default:
		return "quote the value"
	}
}
