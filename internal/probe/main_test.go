package probe

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine (imapclient's reader, an HTTP
// transport's, a conn's context hook) outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
