package manager

// WaitReconciled waits until the reconciler has settled every withdrawn
// call of c (see reconcile.go), for the external tests only. No call of
// c may be in flight meanwhile.
func (c *Client) WaitReconciled() { c.reconcilers.Wait() }
