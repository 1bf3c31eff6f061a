package manager

// WaitReconciled waits until the reconciler has settled every withdrawn
// call of c (see reconcile.go), for the external tests only. No call of
// c may be in flight meanwhile. The multiplexed connection's reader runs
// while a withdrawn call's reply is awaited, and starts the give-back
// before it stops.
func (c *Client) WaitReconciled() {
	c.shared.readers.Wait()
	c.reconcilers.Wait()
}
