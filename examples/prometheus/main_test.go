package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func TestMain(m *testing.M) {
	manager.Init() // the workload's workers are this binary re-executed
	os.Exit(m.Run())
}

// sample is one line of the text format: name{labels} value.
var sample = regexp.MustCompile(`^([a-z_]+)\{([^}]*)\} ([0-9.e+-]+)$`)

// scrape fetches url and returns its samples, keyed by name{labels},
// checking that every line is a comment or a well-formed sample.
func scrape(ctx context.Context, t *testing.T, url string) map[string]float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		m := sample.FindStringSubmatch(line)
		require.NotNil(t, m, "a malformed line: %q", line)
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err)
		samples[m[1]+"{"+m[2]+"}"] = v
	}
	return samples
}

func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	metrics := NewMetrics()
	m, err := manager.Start(ctx, manager.InProcess(), manager.WithServerInterceptors(metrics.Interceptor))
	require.NoError(t, err)
	defer m.Shutdown(context.Background())
	srv := httptest.NewServer(metrics)
	defer srv.Close()

	require.NoError(t, workload(ctx, m))
	got := scrape(ctx, t, srv.URL+"/metrics")

	// Two workers each add 100 times and put 100 items; the parent gets
	// the 200 items and one TryGet more, which fails with "empty".
	assert.Equal(t, 200.0, got[`manager_calls_total{type="Dict",method="Add",code="ok"}`])
	assert.Equal(t, 200.0, got[`manager_calls_total{type="Queue",method="Put",code="ok"}`])
	tryGet := 0.0
	empty := 0.0
	for k, v := range got {
		if strings.HasPrefix(k, `manager_calls_total{type="Queue",method="TryGet`) {
			if strings.HasSuffix(k, `code="ok"}`) {
				tryGet += v
			}
			if strings.HasSuffix(k, `code="empty"}`) {
				empty += v
			}
		}
	}
	assert.Equal(t, 200.0, tryGet)
	assert.Equal(t, 1.0, empty)
	assert.Equal(t, 2.0, got[`manager_calls_total{type="manager",method="new",code="ok"}`])

	const h = `manager_call_duration_seconds`
	const labels = `type="Dict",method="Add"`
	assert.Equal(t, 200.0, got[h+`_count{`+labels+`}`])
	assert.Equal(t, 200.0, got[h+`_bucket{`+labels+`,le="+Inf"}`])
	assert.Greater(t, got[h+`_sum{`+labels+`}`], 0.0)
	prev := 0.0
	for _, le := range buckets {
		v, ok := got[h+`_bucket{`+labels+`,le="`+strconv.FormatFloat(le, 'g', -1, 64)+`"}`]
		require.True(t, ok, "bucket %v", le)
		assert.GreaterOrEqual(t, v, prev, "buckets are cumulative")
		prev = v
	}
}
