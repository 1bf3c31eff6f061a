package proc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A manager's private socket directory (os.TempDir()/manager-*) holds
// its socket and an owner file with the pid of the process serving it.
// The manager removes it when it exits; when the manager process is
// killed, its parent removes it on reaping it; when both are killed, the
// next Start of any program of the same user removes it (SweepStaleDirs).
const (
	dirPrefix  = "manager-"
	socketFile = "manager.sock"
	ownerFile  = "owner.pid"
)

// IsPrivateDir reports whether dir has the form of a manager's private
// directory: a process reporting its directory cannot make its parent
// remove anything else.
func IsPrivateDir(dir string) bool {
	return filepath.Dir(dir) == filepath.Clean(os.TempDir()) && strings.HasPrefix(filepath.Base(dir), dirPrefix)
}

// SweepStaleDirs removes the private directories of managers that died
// without removing them: directories of this user in os.TempDir named
// manager-*, holding only a socket and an owner file, whose owner process
// is gone and whose socket has no listener. A directory without an owner
// file (being created, or not ours) is left alone.
func SweepStaleDirs() {
	tmp := os.TempDir()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), dirPrefix) {
			if dir := filepath.Join(tmp, e.Name()); isStale(dir) {
				os.RemoveAll(dir)
			}
		}
	}
}

// ListenPrivate listens on a Unix socket (0600) in a new private
// directory (0700) of os.TempDir, with an owner file naming this process,
// and returns the directory for its removal.
func ListenPrivate() (net.Listener, string, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, "", fmt.Errorf("make socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	// The owner's pid lets a later Start tell a directory left by a
	// killed manager from one in use (SweepStaleDirs).
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("make socket directory: %w", err)
	}
	sock := filepath.Join(dir, socketFile)
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		os.RemoveAll(dir)
		return nil, "", err
	}
	return l, dir, nil
}

// isStale reports whether dir is a private directory whose manager died.
func isStale(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != os.Getuid() {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.Name() != socketFile && e.Name() != ownerFile {
			return false // not only ours: leave it
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || pid <= 0 || !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return false // alive (or unreadable): in use
	}
	// The pid may have been reused; the socket decides: nobody listens.
	c, err := net.DialTimeout("unix", filepath.Join(dir, socketFile), time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}
