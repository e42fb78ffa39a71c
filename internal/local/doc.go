// Package local answers questions about this node that no network probe can: is the
// service's virtual IP plumbed here, is the Axigen process alive here, is the shared
// storage mounted here and writable.
//
// It imports only the standard library: the monitor shim links it, and every package the
// shim links adds to its start-up time.
package local
