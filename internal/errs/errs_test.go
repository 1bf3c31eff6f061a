package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorfKeepsThePrefixOutOfTheMiddle(t *testing.T) {
	tests := []struct {
		name string
		give error
		want string
		is   error
	}{
		{"a sentinel", Errorf("manager: Pipe.Send: %w", Closed), "manager: Pipe.Send: closed (Close or Shutdown was called)", Closed},
		{"a wrapped sentinel", Errorf("add delta: %w", fmt.Errorf("%w: not a number", BadArguments)), "add delta: bad arguments (wrong number or types of arguments for the method): not a number", BadArguments},
		{"two errors", Errorf("%w; then: %w", context.Canceled, NotHeld), "context canceled; then: release of a lock this caller does not hold", NotHeld},
		{"an error of another package", Errorf("manager: x: %w", errors.New("manager:y")), "manager: x: manager:y", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.give.Error())
			if tt.is != nil {
				assert.ErrorIs(t, tt.give, tt.is)
				assert.Equal(t, CodeOf(tt.is), CodeOf(tt.give))
			}
		})
	}
}

func TestRegisteredCodes(t *testing.T) {
	mine := errors.New("mine")
	require.NoError(t, Register("errs-test.mine", mine))
	assert.Error(t, Register("errs-test.mine", errors.New("other")), "code taken")
	assert.Error(t, Register("errs-test.again", mine), "error taken")
	assert.Error(t, Register("", errors.New("x")))
	assert.Error(t, Register("errs-test.nil", nil))

	tests := []struct {
		name string
		give error
		want error
	}{
		{"registered", fmt.Errorf("a: %w", mine), mine},
		{"a library sentinel first", fmt.Errorf("%w: %w", Full, mine), Full},
		{"a context error first", fmt.Errorf("%w: %w", context.Canceled, mine), context.Canceled},
		{"not registered", errors.New("mine"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := CodeOf(tt.give)
			assert.Equal(t, tt.want, FromCode(code))
		})
	}
	assert.Nil(t, FromCode("user:errs-test.unknown"), "a code this process does not know")
	assert.Nil(t, FromCode("closed:"), "library codes are not user codes")
	assert.Equal(t, Closed, FromCode(CodeOf(Closed)))
}
