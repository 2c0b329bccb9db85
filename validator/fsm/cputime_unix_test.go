//go:build unix

package fsm

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used,
// background goroutines included.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
