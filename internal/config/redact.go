package config

import (
	"bytes"
	"fmt"
	"io/fs"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/axprobe/axprobe/internal/secret"
)

// Redacted returns the configuration as YAML with every default filled in, in the order of
// the fields. Passwords are never written: a loaded password shows as the comment
// "# password: [redacted]" after its auth key. The output is a valid config that loads back
// to the same Config (given the same password files and environment).
func (c *Config) Redacted() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	root, _ := encode(reflect.ValueOf(c).Elem())
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

// encode renders v as a YAML node, the reverse of decoder.decode. The note, when not empty,
// is a comment for the key v is written under: where a struct holds a secret, the note says
// that there is one, never what it is.
func encode(v reflect.Value) (n *yaml.Node, note string) {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	switch v.Type() {
	case reflect.TypeFor[time.Duration]():
		if v.Int() < 0 { // the resolved model's "never" (a round trip is never graded slow)
			return scalar("!!str", "never"), ""
		}
		return scalar("!!str", formatDuration(time.Duration(v.Int()))), ""
	case reflect.TypeFor[fs.FileMode]():
		return scalar("!!str", fmt.Sprintf("%04o", v.Uint())), ""
	}
	switch v.Kind() {
	case reflect.String:
		return scalar("!!str", v.String()), ""
	case reflect.Bool:
		return scalar("", strconv.FormatBool(v.Bool())), ""
	case reflect.Int:
		return scalar("", strconv.FormatInt(v.Int(), 10)), ""
	case reflect.Float64:
		return scalar("", strconv.FormatFloat(v.Float(), 'g', -1, 64)), ""
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle // []
		}
		for i := range v.Len() {
			elem, _ := encode(v.Index(i))
			n.Content = append(n.Content, elem)
		}
		return n, ""
	case reflect.Pointer:
		return encode(v.Elem())
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			n.Content = append(n.Content, scalar("!!str", k.String()), scalar("!!str", v.MapIndex(k).String()))
		}
		return n, ""
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			f, field := v.Field(i), v.Type().Field(i)
			if !field.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(field.Tag.Get("yaml"), ",")
			if name == "" { // a type of another package (probe.Spec): its fields, snake_case
				name, opts = snakeCase(field.Name), "omitempty"
			}
			if s, ok := f.Interface().(secret.Secret); ok {
				if !s.IsZero() {
					note = name + ": " + s.String()
				}
				continue
			}
			if (f.Kind() == reflect.Pointer || opts == "omitempty") && f.IsZero() {
				continue // an absent optional block or an unset protocol-specific key
			}
			key := scalar("!!str", name)
			val, valNote := encode(f)
			key.LineComment = valNote
			n.Content = append(n.Content, key, val)
		}
		return n, note
	}
	panic(fmt.Sprintf("config: no encoder for %s", v.Type())) // a bug in Config's types
}

// snakeCase turns a Go field name into a YAML key: IMAPAddress → imap_address.
func snakeCase(name string) string {
	if name == "IMAPTLS" {
		return "imap_tls" // as the config key
	}
	var b strings.Builder
	for i, r := range name {
		upper := unicode.IsUpper(r)
		if upper && i > 0 {
			prev := rune(name[i-1])
			nextLower := i+1 < len(name) && unicode.IsLower(rune(name[i+1]))
			if unicode.IsLower(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// RedactedModel returns the resolved model (Resolve) as YAML, passwords redacted as in
// Redacted: what `axprobe check-config --print` shows under "what runs".
func RedactedModel(specs []TargetSpec) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	root, _ := encode(reflect.ValueOf(struct {
		Targets []TargetSpec `yaml:"resolved_targets"`
	}{specs}))
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("encode resolved model: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode resolved model: %w", err)
	}
	return buf.Bytes(), nil
}

// formatDuration writes d as time.Duration.String does, without zero trailing units
// ("336h", not "336h0m0s").
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
