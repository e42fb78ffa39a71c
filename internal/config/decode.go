package config

import (
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/axprobe/axprobe/internal/secret"
)

// decoder turns the merged key tree (maps, lists and scalars from YAML, strings from the
// environment, Go values from flags) into a Config. It never stops at the first problem:
// every bad value and unknown key is recorded with its path and decoding goes on.
type decoder struct {
	problems Problems
}

// decode stores raw into v (settable), recording problems under path.
func (d *decoder) decode(path string, raw any, v reflect.Value) {
	if raw == nil {
		return // "key:" with no value: keep what is there (a default or the zero value)
	}
	switch v.Type() {
	case reflect.TypeFor[time.Duration]():
		d.duration(path, raw, v)
		return
	case reflect.TypeFor[fs.FileMode]():
		d.fileMode(path, raw, v)
		return
	case reflect.TypeFor[secret.Secret]():
		d.problems.add(path, "passwords are not accepted in the config; use password_file or password_env")
		return
	}
	switch v.Kind() {
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.problems.add(path, fmt.Sprintf("expected a string, got %s (quote it)", describe(raw)))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		d.bool(path, raw, v)
	case reflect.Int:
		d.int(path, raw, v)
	case reflect.Float64:
		d.float(path, raw, v)
	case reflect.Slice:
		d.slice(path, raw, v)
	case reflect.Struct:
		d.structure(path, raw, v)
	case reflect.Map:
		d.stringMap(path, raw, v)
	case reflect.Pointer:
		if v.Type().Elem().Kind() != reflect.Struct { // an optional scalar: *float64
			p := reflect.New(v.Type().Elem())
			before := len(d.problems)
			d.decode(path, raw, p.Elem())
			if len(d.problems) == before {
				v.Set(p)
			}
			return
		}
		if _, ok := raw.(map[string]any); !ok {
			d.problems.add(path, fmt.Sprintf("expected a mapping, got %s", describe(raw)))
			return
		}
		p := reflect.New(v.Type().Elem())
		d.structure(path, raw, p.Elem())
		v.Set(p)
	default:
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path)) // a bug in Config's types
	}
}

// structure decodes a mapping into the struct v, field by field, by yaml tag.
func (d *decoder) structure(path string, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.problems.add(path, fmt.Sprintf("expected a mapping, got %s", describe(raw)))
		return
	}
	fields := fieldsByKey(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		i, ok := fields[k]
		if !ok {
			d.problems.add(join(path, k), "unknown key")
			continue
		}
		d.decode(join(path, k), m[k], v.Field(i))
	}
}

// stringMap decodes a mapping of strings (labels: {domain: example.com}) into v, a
// map[string]string.
func (d *decoder) stringMap(path string, raw any, v reflect.Value) {
	m, ok := raw.(map[string]any)
	if !ok {
		d.problems.add(path, fmt.Sprintf("expected a mapping, got %s", describe(raw)))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			d.problems.add(join(path, k), fmt.Sprintf("expected a string, got %s (quote it)", describe(e)))
			continue
		}
		out.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(s))
	}
	v.Set(out)
}

// slice decodes a list into v, element by element.
func (d *decoder) slice(path string, raw any, v reflect.Value) {
	list, ok := raw.([]any)
	if !ok {
		d.problems.add(path, fmt.Sprintf("expected a list, got %s", describe(raw)))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(list), len(list))
	for i, e := range list {
		if e == nil {
			d.problems.add(fmt.Sprintf("%s[%d]", path, i), "empty list element")
			continue
		}
		d.decode(fmt.Sprintf("%s[%d]", path, i), e, out.Index(i))
	}
	v.Set(out)
}

func (d *decoder) duration(path string, raw any, v reflect.Value) {
	switch x := raw.(type) {
	case time.Duration:
		v.SetInt(int64(x))
		return
	case string:
		if x == "" {
			v.SetInt(0)
			return
		}
		if dur, err := time.ParseDuration(x); err == nil {
			v.SetInt(int64(dur))
			return
		}
	}
	d.problems.add(path, fmt.Sprintf("%s is not a duration (write e.g. \"10s\")", describe(raw)))
}

func (d *decoder) fileMode(path string, raw any, v reflect.Value) {
	s, ok := raw.(string)
	if !ok {
		msg := fmt.Sprintf("%s is not an octal mode string (write it quoted, e.g. \"0660\")", describe(raw))
		if n, isInt := raw.(int); isInt && n >= 0 {
			msg = fmt.Sprintf("the number %d is not a mode: write it as a quoted octal string, e.g. \"0660\" (YAML reads an unquoted 0%o as %d)", n, n, n)
		}
		d.problems.add(path, msg)
		return
	}
	mode, err := strconv.ParseUint(s, 8, 32)
	if err != nil || mode > 0o777 {
		d.problems.add(path, fmt.Sprintf("%q is not an octal mode from 0 to 0777 (write e.g. \"0660\")", s))
		return
	}
	v.SetUint(mode)
}

func (d *decoder) bool(path string, raw any, v reflect.Value) {
	switch x := raw.(type) {
	case bool:
		v.SetBool(x)
		return
	case string: // from the environment
		if b, err := strconv.ParseBool(x); err == nil {
			v.SetBool(b)
			return
		}
	}
	d.problems.add(path, fmt.Sprintf("%s is not true or false", describe(raw)))
}

func (d *decoder) int(path string, raw any, v reflect.Value) {
	n, ok := int64(0), false
	switch x := raw.(type) {
	case int:
		n, ok = int64(x), true
	case int64:
		n, ok = x, true
	case uint64:
		n, ok = int64(x), x <= math.MaxInt64
	case float64:
		n, ok = int64(x), x == math.Trunc(x) && math.Abs(x) < 1<<53
	case string: // from the environment
		var err error
		n, err = strconv.ParseInt(x, 10, 64)
		ok = err == nil
	}
	if !ok || n < math.MinInt32 || n > math.MaxInt32 {
		d.problems.add(path, fmt.Sprintf("%s is not an integer", describe(raw)))
		return
	}
	v.SetInt(n)
}

func (d *decoder) float(path string, raw any, v reflect.Value) {
	f, ok := 0.0, false
	switch x := raw.(type) {
	case float64:
		f, ok = x, true
	case int:
		f, ok = float64(x), true
	case int64:
		f, ok = float64(x), true
	case uint64:
		f, ok = float64(x), true
	case string: // from the environment
		var err error
		f, err = strconv.ParseFloat(x, 64)
		ok = err == nil
	}
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		d.problems.add(path, fmt.Sprintf("%s is not a finite number", describe(raw)))
		return
	}
	v.SetFloat(f)
}

// describe renders a raw value for a problem message: scalars as written (strings quoted),
// collections by their shape only.
func describe(raw any) string {
	switch x := raw.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case time.Duration:
		return x.String()
	case float64, int, int64, uint64, bool:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("a value of type %T", raw)
}

// fieldsByKey maps each yaml key of the struct type t to its field index.
func fieldsByKey(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		m[yamlKey(t.Field(i))] = i
	}
	return m
}

// yamlKey is the key a struct field is written as.
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// join appends a mapping key to a path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
