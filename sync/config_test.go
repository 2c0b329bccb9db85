package sync

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.Pool, good.ClusterURLs, good.AdminToken = &pgxpool.Pool{}, "http://127.0.0.1:7101,127.0.0.1:7102", "tok"
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"no pool":      func(c *Config) { c.Pool = nil },
		"no urls":      func(c *Config) { c.ClusterURLs = " , " },
		"no token":     func(c *Config) { c.AdminToken = "" },
		"batch 0":      func(c *Config) { c.Batch = 0 },
		"batch big":    func(c *Config) { c.Batch = 10001 },
		"poll 0":       func(c *Config) { c.Poll = 0 },
		"max<backoff":  func(c *Config) { c.MaxBackoff = c.Backoff / 2 },
		"unknown 0":    func(c *Config) { c.UnknownAttempts = 0 },
		"no log":       func(c *Config) { c.Log = nil },
		"small bytes":  func(c *Config) { c.MaxBatchBytes = 100 },
		"lock retry 0": func(c *Config) { c.LockRetry = 0 },
	} {
		c := good
		change(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := NewRelay(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("NewRelay(zero) = %v", err)
	}
}
