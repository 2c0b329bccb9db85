package cluster

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog lets hashicorp/raft log through log/slog.
type slogHCLog struct {
	l    *slog.Logger
	name string
	args []any
}

var _ hclog.Logger = (*slogHCLog)(nil)

func newHCLog(l *slog.Logger, name string) hclog.Logger {
	return &slogHCLog{l: l.With("component", name), name: name}
}

func toSlogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	h.l.Log(context.Background(), toSlogLevel(level), msg, args...)
}
func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHCLog) enabled(l slog.Level) bool     { return h.l.Enabled(context.Background(), l) }
func (h *slogHCLog) IsTrace() bool                 { return h.enabled(slog.LevelDebug) }
func (h *slogHCLog) IsDebug() bool                 { return h.enabled(slog.LevelDebug) }
func (h *slogHCLog) IsInfo() bool                  { return h.enabled(slog.LevelInfo) }
func (h *slogHCLog) IsWarn() bool                  { return h.enabled(slog.LevelWarn) }
func (h *slogHCLog) IsError() bool                 { return h.enabled(slog.LevelError) }
func (h *slogHCLog) ImpliedArgs() []any            { return h.args }
func (h *slogHCLog) Name() string                  { return h.name }
func (h *slogHCLog) SetLevel(hclog.Level)          {}
func (h *slogHCLog) GetLevel() hclog.Level         { return hclog.Info }

func (h *slogHCLog) With(args ...any) hclog.Logger {
	return &slogHCLog{l: h.l.With(args...), name: h.name, args: append(append([]any{}, h.args...), args...)}
}

func (h *slogHCLog) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *slogHCLog) ResetNamed(name string) hclog.Logger {
	return &slogHCLog{l: h.l.With("component", name), name: name, args: h.args}
}

func (h *slogHCLog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(h.l.Handler(), slog.LevelInfo)
}

func (h *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(nil).Writer()
}

// badgerLogger sends Badger's logs to slog. Badger's info lines are routine
// (compactions, flushes) and go to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(sprintfTrim(f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(sprintfTrim(f, a...)) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(sprintfTrim(f, a...)) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(sprintfTrim(f, a...)) }

func sprintfTrim(f string, a ...any) string {
	return strings.TrimRight(fmt.Sprintf(f, a...), "\n")
}
