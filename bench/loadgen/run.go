package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/admitpark/admit/bench/load"
	"github.com/admitpark/admit/cluster/httpapi"
	"github.com/admitpark/admit/validator/gate"
)

// Run prepares the codes and the gate, then scans at a fixed rate or ramps.
// When ctx ends it stops sending, waits for the answers in flight (at most
// cfg.Timeout) and returns what it measured with ctx's error.
func Run(ctx context.Context, cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	rep := Report{
		Mode: "fixed", Cluster: cfg.Cluster, Gate: cfg.Gate, Gates: cfg.Gates,
		ConnsPerGate: cfg.ConnsPerGate, Batch: cfg.Batch, Repeat: cfg.Repeat,
	}
	if cfg.Ramp {
		rep.Mode = "ramp"
	}
	admin, err := httpapi.NewClient(strings.Join(cfg.Cluster, ","), cfg.AdminToken)
	if err != nil {
		return rep, err
	}
	admin.HTTP.Timeout = cfg.AdminTimeout

	codes, loaded, err := prepareCodes(ctx, cfg, admin)
	rep.Loaded = loaded
	if err != nil {
		return rep, err
	}
	rep.Codes = len(codes)
	if cfg.Skip >= len(codes) {
		return rep, fmt.Errorf("skip %d: there are only %d codes", cfg.Skip, len(codes))
	}
	token := cfg.GateToken
	if token == "" {
		if token, err = registerGate(ctx, cfg, admin); err != nil {
			return rep, err
		}
	}
	e, err := newEngine(cfg, codes, token)
	if err != nil {
		return rep, err
	}
	defer e.close()
	if err := waitReady(ctx, cfg, token); err != nil {
		return rep, err
	}

	if !cfg.Ramp {
		st := e.step(ctx, 0, 0, cfg.Rate, cfg.Duration)
		rep.Stats = &st
	} else {
		rep.Steps, rep.Result = ramp(ctx, cfg, e)
	}
	rep.Wrapped = e.wrapped
	rep.NextSkip = (e.maxPos + 1) % int64(len(codes))
	if err := ctx.Err(); err != nil {
		rep.Interrupted = true
		return rep, err
	}
	return rep, nil
}

// ramp raises the rate step by step until a step fails.
func ramp(ctx context.Context, cfg Config, e *engine) ([]Stats, *RampResult) {
	rates := cfg.stepRates()
	res := &RampResult{P99Bound: float64(cfg.P99Bound) / float64(time.Millisecond)}
	var steps []Stats
	for i, rate := range rates {
		st := e.step(ctx, i+1, len(rates), rate, cfg.StepDuration)
		if ctx.Err() != nil {
			st.Verdict = "interrupted"
			steps = append(steps, st)
			res.StoppedBy = fmt.Sprintf("interrupted in step %d", i+1)
			return steps, res
		}
		ok, why := st.verdict(cfg.P99Bound)
		st.Verdict = why
		steps = append(steps, st)
		if !ok {
			res.StoppedAt = rate
			res.StoppedBy = fmt.Sprintf("step %d at %.0f/s: %s", i+1, rate, why)
			return steps, res
		}
		res.MaxRate, res.AchievedRate, res.P99 = rate, st.AchievedRate, st.Latency.P99
	}
	res.StoppedBy = fmt.Sprintf("the step limit (%d steps, all held)", len(rates))
	return steps, res
}

// prepareCodes reads the codes file, or issues cfg.Load tickets first.
func prepareCodes(ctx context.Context, cfg Config, admin *httpapi.Client) ([]string, *LoadInfo, error) {
	if len(cfg.Codes) > 0 {
		return cfg.Codes, nil, nil
	}
	if cfg.Load == 0 {
		f, err := os.Open(cfg.CodesFile)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		codes, err := readCodes(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", cfg.CodesFile, err)
		}
		return codes, nil, nil
	}
	var buf bytes.Buffer
	res, err := load.Run(ctx, admin, load.DefaultOptions(cfg.Load), &buf, cfg.LoadProgress)
	info := &LoadInfo{Issued: res.Issued, Stale: res.Stale, Seconds: res.Duration.Seconds()}
	if s := res.Duration.Seconds(); s > 0 {
		info.PerSecond = float64(res.Issued+res.Stale) / s
	}
	if err != nil {
		return nil, info, fmt.Errorf("loading tickets, after %d: %w", res.Issued+res.Stale, err)
	}
	if cfg.CodesFile != "" {
		if err := os.WriteFile(cfg.CodesFile, buf.Bytes(), 0o644); err != nil {
			return nil, info, err
		}
	}
	codes, err := readCodes(&buf)
	return codes, info, err
}

func readCodes(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var codes []string
	for sc.Scan() {
		if c := strings.TrimSpace(sc.Text()); c != "" {
			codes = append(codes, c)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(codes) == 0 {
		return nil, errors.New("no codes in the file")
	}
	return codes, nil
}

// registerGate registers (or re-registers) cfg.Gate and returns its new token.
func registerGate(ctx context.Context, cfg Config, admin *httpapi.Client) (string, error) {
	var out gate.GateJSON
	err := admin.Do(ctx, http.MethodPost, gate.PathGates, gate.GateJSON{ID: cfg.Gate, Zone: cfg.Zone, Direction: "both"}, &out)
	if err != nil {
		return "", fmt.Errorf("register gate %s: %w", cfg.Gate, err)
	}
	if out.Token == "" {
		return "", fmt.Errorf("register gate %s: no token in the reply", cfg.Gate)
	}
	return out.Token, nil
}

// waitReady waits until every node accepts the gate's token: a follower
// knows a newly registered gate only once it has applied the change. It
// probes with a code that can never parse, which every node answers with
// deny invalid_code without touching the log.
func waitReady(ctx context.Context, cfg Config, token string) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.AdminTimeout)
	defer cancel()
	body := fmt.Sprintf(`{"code":%q,"gate":%s,"scan_id":"bench-probe"}`, probeCode, appendJSONString(nil, cfg.Gate))
	for _, u := range cfg.Cluster {
		addr, tls, err := splitURL(u)
		if err != nil {
			return err
		}
		c := &fasthttp.HostClient{Addr: addr, IsTLS: tls, Name: "admit-bench"}
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		err = probe(ctx, c, scheme+addr+gate.PathScan, token, body)
		c.CloseIdleConnections()
		if err != nil {
			return fmt.Errorf("node %s does not take scans for gate %s: %w", u, cfg.Gate, err)
		}
	}
	return nil
}

func probe(ctx context.Context, c *fasthttp.HostClient, uri, token, body string) error {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last, answer error // answer: the node's last refusal, which says more than a timeout
	for {
		req.Reset()
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetRequestURI(uri)
		req.Header.SetContentType("application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		req.SetBodyString(body)
		err := c.DoTimeout(req, resp, time.Second)
		if err == nil && resp.StatusCode() == fasthttp.StatusOK {
			return nil
		}
		last = err
		if err == nil {
			_, msg, _ := classify(nil, resp)
			answer = fmt.Errorf("%d %s", resp.StatusCode(), msg)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			if answer != nil {
				return answer
			}
			return last
		}
	}
}
