package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuBusy reads the machine's busy and total CPU time (in clock ticks)
// from /proc/stat.
func cpuBusy() (busy, total uint64, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0, errors.New("empty /proc/stat")
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat line %q", sc.Text())
	}
	for i, s := range fields[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		total += v
		if i != 3 && i != 4 { // idle and iowait are not busy
			busy += v
		}
	}
	return busy, total, nil
}

// settle waits at least min, then until the machine's CPUs were less than
// quiet busy (a fraction) over a 2-second window, or max passed: loading a
// million tickets leaves compactions and checkpoints running, and measuring
// through them would charge a system for its own loading. It returns how
// long it waited and the last window's busy fraction.
func settle(ctx context.Context, min, max time.Duration, quiet float64) (time.Duration, float64, error) {
	t0 := time.Now()
	if err := idle(ctx, min); err != nil {
		return 0, 0, err
	}
	frac := -1.0
	for time.Since(t0) < max {
		b0, t0s, err := cpuBusy()
		if err != nil {
			return time.Since(t0), frac, nil // not Linux: the fixed pause is all we have
		}
		if err := idle(ctx, 2*time.Second); err != nil {
			return 0, 0, err
		}
		b1, t1s, err := cpuBusy()
		if err != nil || t1s == t0s {
			return time.Since(t0), frac, nil
		}
		frac = float64(b1-b0) / float64(t1s-t0s)
		if frac < quiet {
			break
		}
	}
	return time.Since(t0), frac, nil
}
