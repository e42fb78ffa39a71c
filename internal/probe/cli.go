package probe

import "errors"

// PLACEHOLDER: replaced by the real prober.
func newCLI(spec Spec) (Prober, error) { return nil, errors.New("cli prober not built yet") }
