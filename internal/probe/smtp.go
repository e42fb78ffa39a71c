package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newSMTP(spec Spec) (Prober, error) { return nil, errors.New("smtp prober not built yet") }
