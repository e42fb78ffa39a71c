// Package secret holds credentials so that they cannot leak by accident.
//
// A Secret formats as "[redacted]" through fmt (every verb), log/slog, encoding/json and
// encoding.TextMarshaler. The only way to read the value is Reveal, which makes every use
// of the plain text easy to find in review.
package secret

import "log/slog"

// Redacted is what a Secret prints as, everywhere.
const Redacted = "[redacted]"

// Secret is a password or token. The zero value is the empty secret.
type Secret struct {
	value string
}

// New wraps a plain-text value.
func New(value string) Secret { return Secret{value: value} }

// Reveal returns the plain text. Call it only where the value goes on the wire.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.value == "" }

// String implements fmt.Stringer; it never returns the value.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer so that %#v does not print the value either.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// MarshalText implements encoding.TextMarshaler (used by JSON and YAML encoders).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
