package manager_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// errOutOfStock is a user's sentinel error, registered so that it
// survives the wire; errUnregistered is not.
var (
	errOutOfStock   = errors.New("inventory: out of stock")
	errUnregistered = errors.New("inventory: closed for the day")
)

// Inventory returns its errors wrapped, as a user's method would.
type Inventory struct{}

func (Inventory) Take(item string) error {
	return fmt.Errorf("take %s: %w", item, errOutOfStock)
}

func (Inventory) Closed() error { return fmt.Errorf("open: %w", errUnregistered) }

func init() {
	manager.RegisterError("test.inventory.out-of-stock", errOutOfStock)
	manager.Register[Inventory]("Inventory", func() Inventory { return Inventory{} })
	manager.RegisterWorker("inventory.restock", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		return fmt.Errorf("restock: %w", errOutOfStock)
	})
}

// TestRegisteredErrorOfAWorker checks that a worker's error wrapping a
// registered error matches it in Process.Wait, across the process
// boundary.
func TestRegisteredErrorOfAWorker(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	p, err := m.Fork(ctx, "inventory.restock")
	require.NoError(t, err)
	err = waitProcess(ctx, t, p)
	require.ErrorIs(t, err, errOutOfStock)
	assert.ErrorIs(t, err, manager.ErrProcessExited)
	assert.Contains(t, err.Error(), "restock: inventory: out of stock")
}

func TestRegisteredErrorCrossesTheWire(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t) // a manager process: the error comes from another process
	inv, err := manager.New(ctx, m, "Inventory")
	require.NoError(t, err)

	_, err = manager.Call[struct{}](ctx, inv, "Take", "apples")
	require.ErrorIs(t, err, errOutOfStock)
	var re *manager.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "take apples: inventory: out of stock", re.Message)
	assert.Equal(t, "manager: Inventory.Take: take apples: inventory: out of stock", err.Error())
	assert.NotErrorIs(t, err, errUnregistered)

	_, err = manager.Call[struct{}](ctx, inv, "Closed")
	require.ErrorAs(t, err, &re)
	assert.NotErrorIs(t, err, errUnregistered, "an error not registered arrives as text only")
	assert.NotErrorIs(t, err, errOutOfStock)
}

func TestRegisterErrorRefusesMistakes(t *testing.T) {
	tests := []struct {
		name string
		code string
		err  error
	}{
		{"empty code", "", errors.New("x")},
		{"nil error", "test.nil", nil},
		{"code taken", "test.inventory.out-of-stock", errors.New("another")},
		{"error registered under another code", "test.inventory.again", errOutOfStock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Panics(t, func() { manager.RegisterError(tt.code, tt.err) })
		})
	}
}
