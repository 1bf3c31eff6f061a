package server

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/goproc/manager/internal/builtin"
)

// TestSetRawMethodsRejectsUnfitMethods checks that only methods taking
// encoded arguments alone can be given a rawMethod.
func TestSetRawMethodsRejectsUnfitMethods(t *testing.T) {
	tests := []struct {
		name   string
		typeid string
		method string
	}{
		{"unregistered type", "rawcall.NoSuchType", "Load"},
		{"no such method", builtin.TypeDict, "NoSuchMethod"},
		{"a typed parameter", builtin.TypeDict, "Update"},
	}
	lookupType(builtin.TypeDict) // registers the built-in types
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Panics(t, func() {
				setRawMethods(tt.typeid, map[string]rawMethod{tt.method: nil})
			})
		})
	}
}
