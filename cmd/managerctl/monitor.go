package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/goproc/manager"
)

// monitorUsage is the monitor subcommand's usage.
const monitorUsage = "usage: managerctl ... monitor [-n N] [-args]"

// monitor prints every call the manager executes, like redis-cli
// MONITOR: one line each, or one JSON object each with -json, until
// Ctrl-C, -n calls have been printed, or the manager goes away. When it
// falls behind, the manager drops calls rather than slow down, and a
// line says how many were dropped. ctx has no deadline: -timeout bounds
// the connection only.
func monitor(ctx context.Context, c *manager.Client, args []string, w *bufio.Writer, asJSON bool) error {
	fs := flag.NewFlagSet("monitor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	n := fs.Int("n", 0, "stop after this many calls (0: never)")
	showArgs := fs.Bool("args", false, "show each call's arguments, cut at 256 bytes")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, monitorUsage)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	mon, err := c.Monitor(ctx, manager.MonitorOptions{Args: *showArgs})
	if err != nil {
		return err
	}
	defer mon.Close()
	enc := json.NewEncoder(w)
	printed := 0
	for *n == 0 || printed < *n {
		events, dropped, err := mon.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // Ctrl-C
			}
			return err
		}
		if dropped > 0 {
			if asJSON {
				err = enc.Encode(map[string]uint64{"dropped": dropped})
			} else {
				_, err = fmt.Fprintf(w, "# %d calls dropped: this monitor fell behind\n", dropped)
			}
			if err != nil {
				return err
			}
		}
		for _, e := range events {
			if *n > 0 && printed == *n {
				break
			}
			if asJSON {
				err = enc.Encode(monitorJSON(e))
			} else {
				err = printEvent(w, e)
			}
			if err != nil {
				return err
			}
			printed++
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// monitorLine is a call as -json prints it.
type monitorLine struct {
	Time       time.Time `json:"time"`
	Session    string    `json:"session"`
	Pid        int       `json:"pid"`
	Object     uint64    `json:"object"`
	Type       string    `json:"type"`
	Method     string    `json:"method"`
	DurationUS float64   `json:"duration_us"`
	Code       string    `json:"code,omitempty"`
	Args       string    `json:"args,omitempty"`
}

func monitorJSON(e manager.MonitorEvent) monitorLine {
	return monitorLine{
		Time: e.Time.UTC(), Session: e.Session, Pid: e.Pid, Object: e.Object, Type: e.TypeID,
		Method: e.Method, DurationUS: float64(e.Duration.Nanoseconds()) / 1e3, Code: e.Code, Args: e.Args,
	}
}

// printEvent prints one call as a line: time, pid, the call, its
// duration, "ok" or its error code, and its arguments if shown.
func printEvent(w io.Writer, e manager.MonitorEvent) error {
	call := "manager." + e.Method
	if e.Object != 0 {
		call = fmt.Sprintf("%s#%d.%s", e.TypeID, e.Object, e.Method)
	}
	outcome := "ok"
	if e.Code != "" {
		outcome = e.Code
	}
	session := e.Session
	if len(session) > 8 {
		session = session[:8]
	}
	_, err := fmt.Fprintf(w, "%s pid=%d session=%s %s %v %s", e.Time.Format("15:04:05.000000"), e.Pid, session, call, e.Duration.Round(time.Microsecond), outcome)
	if err == nil && e.Args != "" {
		_, err = fmt.Fprintf(w, " %s", e.Args)
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}
