package manager

import (
	"context"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// A typed proxy's keys and values are generic: passing one to call's
// ...any boxes it, one allocation per argument (an int above 255, any
// string). For the scalar types below the typed proxies write them
// straight into the request instead, with the very encoder calls
// msgpack's Encoder.Encode makes for them, so the bytes sent are the
// same. A named type (type ID int) is not among them: it may encode
// itself.

// isScalar reports whether encodeScalar encodes v. It does not allocate.
func isScalar[T any](v T) bool {
	switch any(v).(type) {
	case int, uint, string, bool, float32, float64:
		return true
	}
	return false
}

// encodeScalar encodes v as Encoder.Encode(v) would, without boxing it
// when isScalar(v).
func encodeScalar[T any](enc *msgpack.Encoder, v T) error {
	switch x := any(v).(type) {
	case int:
		return enc.EncodeInt(int64(x))
	case uint:
		return enc.EncodeUint(uint64(x))
	case string:
		return enc.EncodeString(x)
	case bool:
		return enc.EncodeBool(x)
	case float32:
		return enc.EncodeFloat32(x)
	case float64:
		return enc.EncodeFloat64(x)
	}
	return enc.Encode(any(v))
}

// encodeArg encodes v as the argument encodeValue(v) gives, without
// boxing v when isScalar(v): for the bulk paths (UpdatePairs, Extend),
// which write every element straight into the request.
func encodeArg[T any](enc *msgpack.Encoder, v T) error {
	if isScalar(v) {
		return encodeScalar(enc, v)
	}
	x, err := encodeValue(v)
	if err != nil {
		return err
	}
	return enc.Encode(x)
}

// canonicalKey returns the key a dictionary stores for key. Keys are
// compared by their encoding, and a float64 or float32 key has equal
// values that encode differently: -0.0 is stored as +0.0 (they are ==),
// and every NaN as one NaN (so a NaN key, unlike in a Go map, can be
// loaded and deleted; Python's dict finds a NaN key only through the very
// same object). Floats inside a composite key are not changed.
func canonicalKey[K any](key K) K {
	switch k := any(key).(type) {
	case float64:
		if k == 0 || k != k {
			return any(canonicalFloat(k)).(K)
		}
	case float32:
		if k == 0 || k != k {
			return any(float32(canonicalFloat(float64(k)))).(K)
		}
	}
	return key
}

// canonicalFloat maps -0 to +0 and every NaN to math.NaN().
func canonicalFloat(f float64) float64 {
	if f != f {
		return math.NaN()
	}
	return 0
}

// callKey calls method with key as its one argument.
func callKey[K any](ctx context.Context, p *Proxy, method string, out any, key K) error {
	key = canonicalKey(key)
	if !isScalar(key) {
		k, err := encodeValue(key)
		if err != nil {
			return err
		}
		return p.invoke(ctx, method, out, k)
	}
	return p.invokeArgs(ctx, method, out, 1, func(enc *msgpack.Encoder, _ int) error {
		return encodeScalar(enc, key)
	})
}

// callKeyValue calls method with key and value as its two arguments.
func callKeyValue[K, V any](ctx context.Context, p *Proxy, method string, out any, key K, value V) error {
	key = canonicalKey(key)
	if !isScalar(key) || !isScalar(value) {
		k, v, err := encodePair(key, value)
		if err != nil {
			return err
		}
		return p.invoke(ctx, method, out, k, v)
	}
	return p.invokeArgs(ctx, method, out, 2, func(enc *msgpack.Encoder, i int) error {
		if i == 0 {
			return encodeScalar(enc, key)
		}
		return encodeScalar(enc, value)
	})
}
