package loadgen

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/admitpark/admit/validator/ticket"
)

// Config describes one benchmark run. Cluster, the tokens, Gate, Zone,
// Direction and the codes are for the gate API (Run, GateTarget); a Runner
// of any target uses the rest.
type Config struct {
	// Cluster are the base URLs of the nodes (http://host:port). Nothing is
	// sent anywhere else.
	Cluster []string

	// AdminToken is used to register Gate and to issue tickets (Load), and
	// to scan when GateToken is empty and the gate cannot be registered.
	AdminToken string
	// Gate is the registered gate every simulated gate scans as.
	Gate string
	// GateToken is Gate's token. Empty: Run registers Gate in Zone through
	// POST /v1/gates (which gives it a new token) and scans with that.
	GateToken string
	// Zone is where Gate is registered when Run registers it.
	Zone string
	// Direction sent with each scan: "in", "out" or "" (the gate's own).
	Direction string

	// Gates is the number of simulated gates; ConnsPerGate the connections
	// each keeps to its node (and so the requests it can have in flight).
	Gates        int
	ConnsPerGate int

	// Codes to scan; or CodesFile, one code per line (admit tickets load).
	Codes     []string
	CodesFile string
	// Load > 0: issue this many synthetic tickets first (bench/load) and
	// scan those; their codes are written to CodesFile when it is set.
	Load int
	// Repeat is how many times each ticket is scanned; RepeatGap how many
	// other tickets are scanned between two scans of one ticket.
	Repeat    int
	RepeatGap int
	// Skip leaves out the first Skip codes: where an earlier run stopped
	// (Report.NextSkip), so that a codes file serves several runs.
	Skip int

	// Batch is the scans per request: 1 sends POST /v1/scan, more send
	// POST /v1/scans. Rates are always in scans per second.
	Batch int

	// Rate and Duration: hold one rate (scans/s) for a duration.
	Rate     float64
	Duration time.Duration

	// Ramp: start at StartRate, multiply by StepFactor after each step of
	// StepDuration, stop at the first step that fails or after MaxSteps.
	Ramp         bool
	StartRate    float64
	StepFactor   float64
	StepDuration time.Duration
	MaxSteps     int
	P99Bound     time.Duration

	// Timeout bounds one attempt of a request; Retries is how many more
	// attempts a scan gets after a 503/504, timeout or connection error
	// (with the same scan id), RetryDelay apart.
	Timeout    time.Duration
	Retries    int
	RetryDelay time.Duration

	// AdminTimeout bounds each admin call (gate registration, ticket
	// batches) and the wait for every node to accept the gate's token.
	AdminTimeout time.Duration

	// Progress, when set, is called about once a second while scanning.
	Progress func(Progress)
	// LoadProgress, when set, is called as tickets are issued (Load).
	LoadProgress func(done int)
}

// Limits that keep every run bounded.
const (
	MaxSteps       = 12
	MaxDuration    = time.Hour
	MaxRate        = 1e6
	maxErrorShare  = 0.01 // a ramp step fails above this share of errors
	minAchieved    = 0.90 // ... or below this share of the target rate
	maxBatchScans  = 1000 // the gate API's default MaxScansPerRequest
	defaultGateID  = "bench-1"
	probeCode      = "!" // never a valid code: the node answers deny invalid_code without the log
	maxLatencyUsec = 60_000_000
)

// DefaultConfig returns a 10 s run at 1000 scans/s from 64 gates against a
// local cluster; the caller sets Cluster, tokens and codes.
func DefaultConfig() Config {
	return Config{
		Cluster:      []string{"http://127.0.0.1:7101"},
		Gate:         defaultGateID,
		Zone:         "main",
		Direction:    "in",
		Gates:        64,
		ConnsPerGate: 4,
		Repeat:       2,
		RepeatGap:    100,
		Batch:        1,
		Rate:         1000,
		Duration:     10 * time.Second,
		StartRate:    500,
		StepFactor:   1.5,
		StepDuration: 5 * time.Second,
		MaxSteps:     MaxSteps,
		P99Bound:     10 * time.Millisecond,
		Timeout:      3 * time.Second,
		Retries:      2,
		RetryDelay:   100 * time.Millisecond,
		AdminTimeout: 15 * time.Second,
	}
}

// Validate reports the first problem with c as a configuration of Run:
// the gate API of a cluster, its codes, the load and the rate or ramp.
func (c Config) Validate() error {
	if err := c.validateGate(); err != nil {
		return err
	}
	switch {
	case c.Load > 0 && len(c.Codes) > 0:
		return errors.New("give codes or a number of tickets to load, not both")
	case c.Load == 0 && len(c.Codes) == 0 && c.CodesFile == "":
		return errors.New("no codes: give a codes file (admit tickets load) or a number of tickets to load")
	case c.Load < 0 || c.Load > 10_000_000:
		return errors.New("load must be 0-10000000 tickets")
	case c.Load > 0 && c.AdminToken == "":
		return errors.New("loading tickets needs the admin token")
	case c.Skip < 0 || (len(c.Codes) > 0 && c.Skip >= len(c.Codes)) || (c.Load > 0 && c.Skip >= c.Load):
		return errors.New("skip must be at least 0 and below the number of codes")
	}
	if err := c.validateLoad(); err != nil {
		return err
	}
	return c.validateRates()
}

// validateGate checks what GateTarget uses: the cluster, the tokens and the
// gate.
func (c Config) validateGate() error {
	if len(c.Cluster) == 0 {
		return errors.New("no cluster URL given")
	}
	for _, u := range c.Cluster {
		if _, _, err := splitURL(u); err != nil {
			return err
		}
	}
	switch {
	case c.GateToken == "" && c.AdminToken == "":
		return errors.New("need a gate token or the admin token (to register the gate)")
	case !ticket.ValidName(c.Gate):
		return fmt.Errorf("gate id must be 1-%d bytes", ticket.MaxNameLen)
	case c.GateToken == "" && !ticket.ValidName(c.Zone):
		return fmt.Errorf("zone must be 1-%d bytes", ticket.MaxNameLen)
	case c.Direction != "" && c.Direction != "in" && c.Direction != "out":
		return fmt.Errorf("direction %q: use in, out or empty", c.Direction)
	case c.AdminTimeout < time.Millisecond:
		return errors.New("admin timeout must be positive")
	}
	return nil
}

// validateLoad checks what a Runner uses, whatever the target: the
// simulated gates, the order of the codes, the batch and the attempts.
func (c Config) validateLoad() error {
	switch {
	case c.Gates < 1 || c.Gates > 10000:
		return errors.New("gates must be 1-10000")
	case c.ConnsPerGate < 1 || c.ConnsPerGate > 64:
		return errors.New("connections per gate must be 1-64")
	case c.Repeat < 1 || c.Repeat > 100:
		return errors.New("repeat must be 1-100")
	case c.RepeatGap < 1 || c.RepeatGap > 1_000_000:
		return errors.New("repeat gap must be 1-1000000 tickets")
	case c.Skip < 0:
		return errors.New("skip must be at least 0")
	case c.Batch < 1 || c.Batch > maxBatchScans:
		return fmt.Errorf("batch must be 1-%d scans", maxBatchScans)
	case c.Timeout < time.Millisecond || c.Timeout > time.Minute:
		return errors.New("request timeout must be 1ms-1m")
	case c.Retries < 0 || c.Retries > 10:
		return errors.New("retries must be 0-10")
	case c.RetryDelay < 0 || c.RetryDelay > 10*time.Second:
		return errors.New("retry delay must be 0-10s")
	}
	return nil
}

// validateRates checks the fixed rate or the ramp.
func (c Config) validateRates() error {
	if c.Ramp {
		switch {
		case c.StartRate <= 0 || c.StartRate > MaxRate:
			return fmt.Errorf("start rate must be above 0 and at most %g scans/s", MaxRate)
		case c.StepFactor <= 1 || c.StepFactor > 10:
			return errors.New("step factor must be above 1 and at most 10")
		case c.StepDuration < 100*time.Millisecond || c.StepDuration > 10*time.Minute:
			return errors.New("step duration must be 100ms-10m")
		case c.MaxSteps < 1 || c.MaxSteps > MaxSteps:
			return fmt.Errorf("steps must be 1-%d", MaxSteps)
		case c.P99Bound <= 0 || c.P99Bound > time.Minute:
			return errors.New("p99 bound must be above 0 and at most 1m")
		}
		return nil
	}
	return validateStep(c.Rate, c.Duration)
}

func validateStep(rate float64, d time.Duration) error {
	switch {
	case !(rate > 0 && rate <= MaxRate):
		return fmt.Errorf("rate must be above 0 and at most %g scans/s", MaxRate)
	case d < 10*time.Millisecond || d > MaxDuration:
		return fmt.Errorf("duration must be 10ms-%v", MaxDuration)
	}
	return nil
}

// splitURL turns "http://host:port" (or "host:port") into a dial address
// and whether it is TLS.
func splitURL(raw string) (addr string, tls bool, err error) {
	s := strings.TrimSpace(raw)
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("cluster URL %q: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("cluster URL %q: want http(s)://host:port", raw)
	}
	tls = u.Scheme == "https"
	addr = u.Host
	if u.Port() == "" {
		if tls {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return addr, tls, nil
}

// stepRates returns the target rate of every step a run may take.
func (c Config) stepRates() []float64 {
	if !c.Ramp {
		return []float64{c.Rate}
	}
	rates := make([]float64, c.MaxSteps)
	r := c.StartRate
	for i := range rates {
		rates[i] = r
		r *= c.StepFactor
	}
	return rates
}
