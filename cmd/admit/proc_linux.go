package main

import (
	"os"
	"syscall"
)

// childProcAttr keeps dev's nodes out of the terminal's process group, so
// Ctrl-C reaches only dev, which stops them in order; and kills them if dev
// itself dies.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

func terminateProcess(p *os.Process) { p.Signal(syscall.SIGTERM) }
