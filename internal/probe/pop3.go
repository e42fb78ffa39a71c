package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newPOP3(spec Spec) (Prober, error) { return nil, errors.New("pop3 prober not built yet") }
