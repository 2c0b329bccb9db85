package localproc

import "syscall"

// sysProcAttr puts the child in its own process group, so that a Ctrl-C
// at the terminal reaches only this program, which stops its children in
// order; and has the kernel send it deathSig when this program dies.
func sysProcAttr(deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
}
