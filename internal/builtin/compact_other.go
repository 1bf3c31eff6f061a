//go:build !unix

package builtin

// mapRegion returns size zeroed bytes: on this platform regions live on
// the Go heap.
func mapRegion(size int) []byte { return make([]byte, size) }

// unmapRegion leaves b to the garbage collector.
func unmapRegion([]byte) {}
