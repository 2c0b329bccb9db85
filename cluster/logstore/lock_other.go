//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package logstore

// lockDir is a no-op where flock is unavailable. The bbolt meta file is still
// locked by the backend, so a second Open blocks rather than failing fast.
func lockDir(string) (func() error, error) {
	return func() error { return nil }, nil
}
