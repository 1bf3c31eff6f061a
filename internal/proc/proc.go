// Package proc holds the operating-system side of the manager's child
// processes: re-executing the program's own binary in a role, handing the
// child its configuration over an inherited pipe, and the child's side of
// that pipe, which doubles as a lifeline: when the parent dies, the
// child reads EOF and shuts down (Pdeathsig alone would fire when the
// parent *thread* that started the child exits: golang/go#27505).
package proc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// EnvRole is the environment variable that tells a re-executed binary its
// role. It carries only the role's name: secrets travel over the pipes.
// The child's Init removes it (Consume), so that programs the child runs
// do not take it for theirs; a process that still has it when it starts
// a child is a re-executed copy whose main skipped Init, and Start
// refuses to start anything there (it would re-execute itself without
// end: every copy runs main again).
const EnvRole = "GOPROC_MANAGER_ROLE"

// The roles.
const (
	RoleServer = "server"
	RoleWorker = "worker"
)

// The descriptors a child inherits (ExtraFiles start at 3).
const (
	fdConfig = 3 // parent → child: configuration, then lifeline
	fdReport = 4 // child → parent: readiness or result
)

// FirstExtraFD is the child's descriptor for the first file a setup
// function appends to cmd.ExtraFiles after the two pipes (Fork passes
// shared memory and pipe ends that way): the i-th such file is
// FirstExtraFD+i in the child.
const FirstExtraFD = fdReport + 1

// maxMessage bounds pipe messages (worker arguments travel in one).
const maxMessage = 256 << 20

// Child is a started child process with its two pipes.
type Child struct {
	Cmd *exec.Cmd
	// Config is the write end of the configuration pipe. Keep it open for
	// the child's life: closing it (or dying) tells the child to stop.
	Config *os.File
	// Report is the read end of the child's report pipe.
	Report *os.File
}

// Start re-executes this binary in role. ctx, if not nil, kills the child
// as exec.CommandContext does; configure cmd further with setup before it
// starts. setup may append files to cmd.ExtraFiles (never replace the
// two pipes): they arrive from FirstExtraFD on.
//
// In a process that has a role it has not consumed (Init was not called
// first in main) it starts nothing and returns an error wrapping
// errs.InitNotCalled.
func Start(ctx context.Context, role string, setup func(*exec.Cmd)) (*Child, error) {
	if r := Role(); r != "" {
		return nil, fmt.Errorf("%w (this is a %s process; refusing to start another)", errs.InitNotCalled, r)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		cfgW.Close()
		return nil, err
	}
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, exe)
	} else {
		cmd = exec.Command(exe)
	}
	cmd.Env = append(os.Environ(), EnvRole+"="+role)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{cfgR, repW}
	if setup != nil {
		setup(cmd)
	}
	err = cmd.Start()
	cfgR.Close()
	repW.Close()
	if err != nil {
		cfgW.Close()
		repR.Close()
		return nil, fmt.Errorf("start %s process: %w", role, err)
	}
	return &Child{Cmd: cmd, Config: cfgW, Report: repR}, nil
}

// Role returns the role this process was started in and has not yet
// consumed, or "".
func Role() string { return os.Getenv(EnvRole) }

// Consume returns the role this process was started in, or "", and
// removes it from the environment: the role is this process's, not that
// of the programs it runs (the same binary run as a subcommand would
// otherwise take itself for a child and wait for a configuration that
// never comes).
func Consume() string {
	role := os.Getenv(EnvRole)
	os.Unsetenv(EnvRole)
	return role
}

// HasPipes reports whether this process's descriptors 3 and 4 are
// pipes, as they are in a child started by Start. A process that merely
// inherited EnvRole from elsewhere must not write to whatever its
// descriptor 4 is.
func HasPipes() bool {
	for _, fd := range []int{fdConfig, fdReport} {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
			return false
		}
	}
	return true
}

// ConfigPipe and ReportPipe are a child's ends of its pipes.
// They are marked close-on-exec, so that a program the child runs does not
// inherit them (it would keep the lifeline open after the child died, and
// the parent's read of the report waiting).
func ConfigPipe() *os.File {
	syscall.CloseOnExec(fdConfig)
	return os.NewFile(fdConfig, "manager-config")
}

// ReportPipe is the child's end of the report pipe, marked close-on-exec.
func ReportPipe() *os.File {
	syscall.CloseOnExec(fdReport)
	return os.NewFile(fdReport, "manager-report")
}

// Send writes v as one frame.
func Send(w io.Writer, v any) error {
	frame, err := Encode(v)
	if err != nil {
		return err
	}
	_, err = w.Write(frame)
	return err
}

// Encode returns v as one frame for a pipe, so that a caller can find
// out that a message cannot be sent before it starts a child for it.
func Encode(v any) ([]byte, error) {
	var buf wire.Buffer
	buf.Begin()
	if err := msgpack.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Finish(maxMessage)
}

// Recv reads one frame written by Send into v.
func Recv(r *wire.Reader, v any) error {
	body, err := r.ReadFrame()
	if err != nil {
		return err
	}
	if err := wire.Scan(body, nil); err != nil {
		return fmt.Errorf("bad message on pipe: %w", err)
	}
	return msgpack.NewDecoder(bytes.NewReader(body)).Decode(v)
}

// DupCloseOnExec duplicates fd into a new close-on-exec descriptor. The
// fork lock keeps a child started concurrently from inheriting the
// descriptor between the dup and the flag.
func DupCloseOnExec(fd int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return -1, err
	}
	syscall.CloseOnExec(nfd)
	return nfd, nil
}

// NewReader returns a frame reader for a pipe.
func NewReader(r io.Reader) *wire.Reader { return wire.NewReader(r, maxMessage) }
