package manager

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/shm"
)

func TestSharedMemoryAlignment(t *testing.T) {
	t.Run("int32", func(t *testing.T) { checkAlignment[int32](t) })
	t.Run("int64", func(t *testing.T) { checkAlignment[int64](t) })
	t.Run("uint32", func(t *testing.T) { checkAlignment[uint32](t) })
	t.Run("uint64", func(t *testing.T) { checkAlignment[uint64](t) })
	t.Run("float64", func(t *testing.T) { checkAlignment[float64](t) })
}

// checkAlignment checks that every element is naturally aligned (the
// atomic instructions need it: 64-bit ones fault or tear otherwise on
// some processors), the data starts on its own cache line, and the lock
// word is aligned too.
func checkAlignment[T SharedNumber](t *testing.T) {
	v, err := NewSharedValue[T](0)
	require.NoError(t, err)
	defer v.Close()
	assert.Zero(t, uintptr(v.p)%64, "value on its own cache line")
	assert.Zero(t, uintptr(unsafe.Pointer(v.lock.word))%4, "lock word")

	a, err := NewSharedArray[T](9)
	require.NoError(t, err)
	defer a.Close()
	assert.Zero(t, uintptr(a.base)%64)
	var zero T
	for i := range a.Len() {
		assert.Zero(t, uintptr(a.at(i))%unsafe.Sizeof(zero), "element %d", i)
	}
	assert.Equal(t, shm.OffData, int(uintptr(a.base)-uintptr(unsafe.Pointer(a.lock.word))))
}
