package builtin

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// The methods named *As (Queue.GetAs, List.PopAs, Dict.LoadAndDeleteAs,
// Dict.PopItemAs, Dict.SwapAs, Value.SwapAs) are the methods that remove
// or replace a value and return it, for a caller that can decode only
// values of one shape (a wire.Shape, encoded by wire.AppendShape: the
// shape of the caller's Go type). They check the value before removing
// it: one that does not fit gives an error wrapping errs.WrongType, which
// names the value and the caller's type, and nothing changes. So a value
// read through a proxy of the wrong type is never lost.

// parseShape parses an encoded shape argument; nil means any value.
func parseShape(shape msgpack.RawMessage) (*wire.Shape, error) {
	if len(shape) == 0 {
		return nil, nil
	}
	s, err := wire.ParseShape(shape)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.BadArguments, err)
	}
	return s, nil
}

// fits returns nil when value fits s (nil: any shape), else an error
// wrapping errs.WrongType that ends with what happened to the value.
func fits(s *wire.Shape, value msgpack.RawMessage, left string) error {
	if s == nil {
		return nil
	}
	err := s.Check(value)
	if err == nil {
		return nil
	}
	var se *wire.ShapeError
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %v; %s", errs.WrongType, err, left)
	}
	return fmt.Errorf("%w: stored value: %v; %s", errs.Protocol, err, left)
}
