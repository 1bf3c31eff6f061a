package callctx

import "context"

// resolverKey is the context key under which the server installs its
// object resolver. It is a distinct type so no other package can collide.
type resolverKey struct{}

// WithResolver returns ctx carrying resolve, a function that looks up a
// live shared object by its id in the server's object table and reports
// whether it exists. The server installs it in the context of every
// constructor and method call, so that an object can be built on another
// (a Condition on an existing Lock). resolve must be safe for concurrent
// use and must not block.
func WithResolver(ctx context.Context, resolve func(id uint64) (any, bool)) context.Context {
	return context.WithValue(ctx, resolverKey{}, resolve)
}

// Resolve returns the live object with the given id, using the resolver
// installed in ctx by [WithResolver]. It returns false if ctx carries no
// resolver (a direct call in a unit test) or no object has that id. It
// does not block.
func Resolve(ctx context.Context, id uint64) (any, bool) {
	resolve, ok := ctx.Value(resolverKey{}).(func(uint64) (any, bool))
	if !ok || resolve == nil {
		return nil, false
	}
	return resolve(id)
}
