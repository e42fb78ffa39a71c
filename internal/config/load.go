package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	envprovider "github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/v2"

	"github.com/axprobe/axprobe/internal/secret"
)

// Load builds the configuration from its layers, each overriding the ones before:
//
//  1. the defaults (defaults.go);
//  2. the YAML file at path ("" for none);
//  3. env, entries "NAME=value" as from os.Environ: every AXPROBE_ variable whose first
//     segment names a top-level key, with "__" between levels and list elements by index
//     (AXPROBE_LOG__LEVEL=debug, AXPROBE_TARGETS__0__VIP=10.0.0.5). Other AXPROBE_
//     variables, such as one holding a password for password_env, are not config keys and
//     are left alone;
//  4. flags, keyed by dotted path ("http.listen", "targets.0.vip"), with string values or Go
//     values of the field's type.
//
// The environment and flags can change list elements the file defines but cannot add any.
// Load then reads the passwords (from password_file, or from env for password_env) and
// validates the result.
//
// The error is Problems, listing every problem at once, when the layers could be merged;
// otherwise it says why a layer could not be read. It never contains a password. Load reads
// only path and the password files; a password file that is not a regular file (a FIFO, a
// device) is rejected without being opened.
func Load(path string, env []string, flags map[string]any) (*Config, error) {
	k := koanf.New(".")
	if path != "" {
		data, err := readConfigFile(path)
		if err != nil {
			return nil, err
		}
		if err := k.Load(bytesProvider(data), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	envLayer := envprovider.Provider(".", envprovider.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: envKey,
		EnvironFunc:   func() []string { return env },
	})
	if err := k.Load(envLayer, nil, koanf.WithMergeFunc(mergeOverrides)); err != nil {
		return nil, err
	}
	if err := k.Load(confmap.Provider(flags, "."), nil, koanf.WithMergeFunc(mergeOverrides)); err != nil {
		return nil, err
	}

	raw := k.Raw()
	applyDefaults(raw)
	var c Config
	d := decoder{}
	d.structure("", raw, reflect.ValueOf(&c).Elem())
	for i := range c.Targets {
		inherit(&c.Targets[i])
	}
	if c.NodeName == "" {
		// The {node} placeholder's default: one config file serves every node.
		c.NodeName, _ = os.Hostname()
	}

	problems := d.problems
	for _, p := range c.validate() {
		if !problems.cover(p.Path) { // a value that failed to decode is not also "missing"
			problems = append(problems, p)
		}
	}
	problems = append(problems, c.readPasswords(env)...)
	problems = append(problems, c.lookupGroup()...)
	problems.sort()
	if len(problems) > 0 {
		return nil, problems
	}
	return &c, nil
}

// MaxFileSize bounds a config file: a thousand targets fit in far less. A 60 MB file once
// took the daemon to 686 MB of memory (issue 13).
const MaxFileSize = 4 << 20

// readConfigFile reads the config file: a regular file (a FIFO or a device is refused
// before it is opened, and the open does not block), at most MaxFileSize bytes. Errors
// name the file, never its content.
func readConfigFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// bytesProvider is a koanf provider of bytes already read.
type bytesProvider []byte

func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("bytesProvider does not support Read")
}

// lookupGroup checks that a socket_group name exists here, so check-config reports what
// would otherwise fail only when the daemon starts.
func (c *Config) lookupGroup() Problems {
	var ps Problems
	if c.SocketGroup == "" || !validGroup(c.SocketGroup) {
		return nil // none, or reported by validate
	}
	if _, err := strconv.ParseUint(c.SocketGroup, 10, 32); err == nil {
		return nil // a gid needs no entry in /etc/group
	}
	if _, err := user.LookupGroup(c.SocketGroup); err != nil {
		ps.add("socket_group", fmt.Sprintf("%q: no such group on this system", c.SocketGroup))
	}
	return ps
}

// envKey turns AXPROBE_TARGETS__0__VIP into targets.0.vip, or returns "" (skip) for a
// variable whose first segment is not a top-level key.
func envKey(name, value string) (string, any) {
	segments := strings.Split(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__")
	if _, ok := fieldsByKey(reflect.TypeFor[Config]())[segments[0]]; !ok {
		return "", nil
	}
	return strings.Join(segments, "."), value
}

// mergeOverrides merges src, the environment or flags layer, into dest, the layers below.
// Unlike koanf's default merge it reaches into lists: a mapping whose keys are all indexes
// ("0", "1", …), merged onto a list, overrides the elements at those indexes. It refuses to
// add elements: the file decides how many targets and checks there are.
func mergeOverrides(src, dest map[string]any) error {
	return mergeInto("", src, dest)
}

func mergeInto(path string, src, dest map[string]any) error {
	for _, k := range sortedKeys(src) {
		p := join(path, k)
		sub, isMap := src[k].(map[string]any)
		switch d := dest[k].(type) {
		case map[string]any:
			if isMap {
				if err := mergeInto(p, sub, d); err != nil {
					return err
				}
				continue
			}
		case []any:
			if isMap && isIndexMap(sub) {
				if err := mergeElements(p, sub, d); err != nil {
					return err
				}
				continue
			}
		default:
			if isMap && isIndexMap(sub) {
				return mergeElements(p, sub, nil) // reports the missing list
			}
		}
		dest[k] = src[k]
	}
	return nil
}

// mergeElements overrides elements of list by index.
func mergeElements(path string, src map[string]any, list []any) error {
	for _, k := range sortedKeys(src) {
		p := fmt.Sprintf("%s[%s]", path, k)
		i, err := strconv.Atoi(k)
		if err != nil || i >= len(list) {
			return Problems{{Path: p, Message: fmt.Sprintf(
				"no such element in the config file (it has %d); the environment and flags can only change elements the file defines",
				len(list))}}
		}
		sub, isMap := src[k].(map[string]any)
		elem, elemIsMap := list[i].(map[string]any)
		if isMap && elemIsMap {
			if err := mergeInto(p, sub, elem); err != nil {
				return err
			}
			continue
		}
		list[i] = src[k]
	}
	return nil
}

// isIndexMap reports whether every key of m is a list index.
func isIndexMap(m map[string]any) bool {
	for k := range m {
		if k == "" || len(k) > 6 || strings.Trim(k, "0123456789") != "" {
			return false
		}
	}
	return len(m) > 0
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readPasswords fills every Auth.Password from its password_file or password_env. An auth
// block that names both or neither, a relative file or a malformed variable name is left for
// validate to report.
func (c *Config) readPasswords(env []string) Problems {
	var problems Problems
	for ti := range c.Targets {
		for ci := range c.Targets[ti].Checks {
			a := c.Targets[ti].Checks[ci].Auth
			if a == nil {
				continue
			}
			path := fmt.Sprintf("targets[%d].checks[%d].auth", ti, ci)
			switch {
			case filepath.IsAbs(a.PasswordFile) && a.PasswordEnv == "":
				pw, err := secret.ReadFile(a.PasswordFile)
				if err != nil {
					problems.add(path+".password_file", err.Error())
					continue
				}
				a.Password = pw
			case validEnvName(a.PasswordEnv) && a.PasswordFile == "":
				pw, ok := lookupEnv(env, a.PasswordEnv)
				if !ok || pw == "" {
					problems.add(path+".password_env", fmt.Sprintf("environment variable %s is not set or empty", a.PasswordEnv))
					continue
				}
				a.Password = secret.New(pw)
			}
		}
	}
	return problems
}

// lookupEnv finds name in env as os.Getenv would in the process environment.
func lookupEnv(env []string, name string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
