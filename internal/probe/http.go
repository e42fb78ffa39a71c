package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newHTTP(spec Spec) (Prober, error) { return nil, errors.New("http prober not built yet") }
