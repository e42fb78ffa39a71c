package probe

import "errors"

// PLACEHOLDER: replaced by the real gates.
func newVIPGate(spec Spec) (Prober, error)     { return nil, errors.New("not built yet") }
func newProcessGate(spec Spec) (Prober, error) { return nil, errors.New("not built yet") }
func newStorageGate(spec Spec) (Prober, error) { return nil, errors.New("not built yet") }
