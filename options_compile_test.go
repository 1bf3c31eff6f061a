package manager_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMisplacedOptionsDoNotCompile builds small programs against this
// module: an option given to an entry point it does not apply to must be
// a compile error, naming the option type it should have been, and the
// options each entry point does take must compile (so that a failure of
// the build harness itself cannot pass for the compile error wanted).
func TestMisplacedOptionsDoNotCompile(t *testing.T) {
	tests := []struct {
		name    string
		give    string // statements inside func f(ctx context.Context, key []byte)
		wantErr string // "" for a program that must compile
	}{
		{
			name:    "InProcess to Connect",
			give:    `manager.Connect(ctx, "unix", "sock", key, manager.InProcess())`,
			wantErr: "manager.StartOption does not implement manager.ClientOption",
		},
		{
			name:    "InProcess to NewServer",
			give:    `manager.NewServer(manager.InProcess())`,
			wantErr: "manager.StartOption does not implement manager.ServerOption",
		},
		{
			name:    "WithAuthKey to Connect",
			give:    `manager.Connect(ctx, "unix", "sock", key, manager.WithAuthKey(key))`,
			wantErr: "manager.ServerOption does not implement manager.ClientOption",
		},
		{
			name:    "a limit to Connect",
			give:    `manager.Connect(ctx, "unix", "sock", key, manager.WithMaxBlockedCalls(1))`,
			wantErr: "manager.ServerOption does not implement manager.ClientOption",
		},
		{
			name: "every entry point's own options",
			give: `manager.Start(ctx, manager.InProcess(), manager.WithAuthKey(key), manager.WithAddress("tcp", ":0"), manager.WithLogger(nil),
		manager.WithReadBudget(1), manager.WithTLS(nil), manager.WithMaxFrameSize(1), manager.WithMaxRequestSize(1), manager.WithHandshakeTimeout(1))
	manager.NewServer(manager.WithAuthKey(key), manager.WithFrameReadTimeout(1), manager.WithTLS(nil), manager.WithMaxFrameSize(1))
	manager.Connect(ctx, "unix", "sock", key, manager.WithTLS(nil), manager.WithMaxFrameSize(1), manager.WithMaxRequestSize(1), manager.WithHandshakeTimeout(1))
	var _ []manager.StartOption = []manager.StartOption{manager.InProcess(), manager.WithAuthKey(key), manager.WithTLS(nil)}`,
		},
	}
	goTool, err := exec.LookPath("go")
	require.NoError(t, err, "the go command runs the compiler")
	// Inside the module, so that the program imports this very package;
	// under testdata, so that ./... never sees it.
	require.NoError(t, os.MkdirAll("testdata", 0o755))
	t.Cleanup(func() { os.Remove("testdata") }) // only if nothing else is in it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir, err := os.MkdirTemp("testdata", "_optioncheck-")
			require.NoError(t, err)
			t.Cleanup(func() { os.RemoveAll(dir) })
			src := "package optioncheck\n\nimport (\n\t\"context\"\n\n\t\"github.com/goproc/manager\"\n)\n\n" +
				"func f(ctx context.Context, key []byte) {\n\t" + tt.give + "\n}\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, "check.go"), []byte(src), 0o644))

			out, err := exec.CommandContext(ctx, goTool, "vet", "./"+filepath.ToSlash(dir)).CombinedOutput()
			if tt.wantErr == "" {
				assert.NoError(t, err, "%s", out)
				return
			}
			require.Error(t, err, "the program compiled")
			assert.Contains(t, string(out), tt.wantErr)
		})
	}
}
