package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newIMAP(spec Spec) (Prober, error) { return nil, errors.New("imap prober not built yet") }
