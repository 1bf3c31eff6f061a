package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// A row is one JSON object of output. It keeps its fields in the order
// they were set, so that "workload" comes first and rows read like the
// anchors' rows.
type row struct {
	keys []string
	vals map[string]any
}

func newRow(kv ...any) *row {
	r := &row{vals: map[string]any{}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.set(kv[i].(string), kv[i+1])
	}
	return r
}

// set sets field k to v, keeping the position of an existing field.
func (r *row) set(k string, v any) *row {
	if _, ok := r.vals[k]; !ok {
		r.keys = append(r.keys, k)
	}
	r.vals[k] = v
	return r
}

func (r *row) num(k string) (float64, bool) {
	return number(r.vals[k])
}

// MarshalJSON writes the fields in order.
func (r *row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(r.vals[k])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		b.Write(kb)
		b.WriteString(": ")
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// emit prints r as one line of JSON on stdout.
func emit(r *row) {
	b, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: encode row:", err)
		return
	}
	os.Stdout.Write(append(b, '\n'))
}

// number converts a decoded JSON number (or any Go number) to float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// round rounds x to digits decimals, for readable output.
func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

// latencies are per-operation times; stats sorts them.
type latencies []time.Duration

// sort sorts l in place and returns it.
func (l latencies) sort() latencies {
	slices.Sort(l)
	return l
}

// pct is the nearest-rank percentile p (0–100) of sorted latencies, as
// python_manager_bench.py computes it, in microseconds.
func (l latencies) pct(p float64) float64 {
	if len(l) == 0 {
		return math.NaN()
	}
	k := int(math.Round(p/100*float64(len(l))+0.5)) - 1
	k = max(0, min(len(l)-1, k))
	return us(l[k])
}

// addStats sorts l and sets mean, p50, p99 and max (µs) with prefix.
func (l latencies) addStats(r *row, prefix string) {
	l.sort()
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	if len(l) == 0 {
		return
	}
	r.set(prefix+"mean_us", round(us(sum)/float64(len(l)), 2))
	r.set(prefix+"p50_us", round(l.pct(50), 2))
	r.set(prefix+"p99_us", round(l.pct(99), 2))
	r.set(prefix+"max_us", round(us(l[len(l)-1]), 2))
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
