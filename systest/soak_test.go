package systest

import (
	"os"
	"testing"
	"time"
)

// Soak mode: with MANAGER_SOAK=1 in the environment, TestSoak runs the
// fault-injection suite and the linearizability check over and over for
// soakDuration (about two minutes) instead of once each:
//
//	MANAGER_SOAK=1 go test -race -run Soak -v .
//
// CI does not set it. See the README, "Soak mode".

const (
	soakEnv      = "MANAGER_SOAK"
	soakDuration = 2 * time.Minute
)

// soaking reports whether soak mode is on.
func soaking() bool { return os.Getenv(soakEnv) == "1" }

// A budget bounds a fault suite: a number of rounds, or, when until is
// set, as many rounds as fit before it.
type budget struct {
	rounds int
	until  time.Time
}

// more reports whether round (counted from 0) should run.
func (b budget) more(round int) bool {
	if !b.until.IsZero() {
		return time.Now().Before(b.until)
	}
	return round < b.rounds
}

// TestSoak alternates runs of the fault-injection suite and of the
// linearizability check, each on a new manager: for soakDuration in soak
// mode, once each otherwise.
func TestSoak(t *testing.T) {
	checkNoFDLeak(t)
	runs := budget{rounds: 1}
	chaos := budget{rounds: 5}
	if soaking() {
		runs = budget{until: time.Now().Add(soakDuration)}
		chaos = budget{rounds: 50}
	}
	ctx := longContext(t, soakDuration+3*time.Minute)
	var total chaosStats
	var histories, ops int
	for run := 0; runs.more(run); run++ {
		t.Run("chaos", func(t *testing.T) {
			st := runChaos(ctx, t, chaos)
			total.rounds += st.rounds
			total.kills += st.kills
			total.items += st.items
			total.duplicates += st.duplicates
		})
		t.Run("linearizability", func(t *testing.T) {
			n := checkLinearizable(ctx, t, linearizabilityConfig{})
			histories++
			ops += n
		})
		if t.Failed() {
			break
		}
	}
	t.Logf("soak: %d chaos rounds (%d kills, %d items, %d processed twice); %d linearizable histories of %d operations in all",
		total.rounds, total.kills, total.items, total.duplicates, histories, ops)
}
