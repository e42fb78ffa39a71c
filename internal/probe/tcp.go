package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newTCP(spec Spec) (Prober, error) { return nil, errors.New("tcp prober not built yet") }
