package main

import (
	"context"
	"io"
	stdlog "log"
	"log/slog"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	slgk "github.com/tjhop/slog-gokit"
)

// newLogger returns the program's go-kit logger and, for exporter-toolkit,
// an slog logger that writes through it: one format for every line, each
// with ts= and level=.
func newLogger(levelName, format string, w io.Writer) (log.Logger, *slog.Logger) {
	logger, web, _ := newTappedLogger(levelName, format, w)
	return logger, web
}

// newTappedLogger is newLogger, and the tap that keeps the teams' recent
// lines, at every level, for /probe?debug=true.
func newTappedLogger(levelName, format string, w io.Writer) (log.Logger, *slog.Logger, *logTap) {
	var l log.Logger
	if format == "json" {
		l = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		l = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	l = tsFirst{l}
	l = level.NewFilter(l, level.Allow(level.ParseDefault(levelName, level.InfoValue())))
	tap := newLogTap(l)
	l = log.With(tap, "ts", log.DefaultTimestampUTC)
	// slog-gokit adds the caller from the slog record itself.
	web := slog.New(gokitTimeHandler{slgk.NewGoKitHandler(l, slogLevel(levelName))})
	return log.With(l, "caller", log.DefaultCaller), web, tap
}

// tsFirst puts the ts key first on every line, as exporter-toolkit's
// lines have it (ts= level= caller= …): level.Info and the like prefix the
// level before the logger's own ts.
type tsFirst struct{ next log.Logger }

func (t tsFirst) Log(keyvals ...any) error {
	for i := 2; i+1 < len(keyvals); i += 2 {
		if keyvals[i] == "ts" {
			kv := make([]any, 0, len(keyvals))
			kv = append(kv, keyvals[i], keyvals[i+1])
			kv = append(kv, keyvals[:i]...)
			kv = append(kv, keyvals[i+2:]...)
			return t.next.Log(kv...)
		}
	}
	return t.next.Log(keyvals...)
}

func slogLevel(name string) slog.Level {
	switch name {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// gokitTimeHandler drops slog's own time from each record: the go-kit
// logger stamps ts= instead of slog-gokit's time=.
type gokitTimeHandler struct{ slog.Handler }

func (h gokitTimeHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{}
	return h.Handler.Handle(ctx, r)
}

func (h gokitTimeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return gokitTimeHandler{h.Handler.WithAttrs(attrs)}
}

func (h gokitTimeHandler) WithGroup(name string) slog.Handler {
	return gokitTimeHandler{h.Handler.WithGroup(name)}
}

// newErrorLog is net/http's http.Server.ErrorLog (TLS handshake errors,
// panics in handlers, …) writing through the go-kit logger at level=error.
func newErrorLog(logger log.Logger) *stdlog.Logger {
	return stdlog.New(errorLogWriter{level.Error(logger)}, "", 0)
}

type errorLogWriter struct{ logger log.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.logger.Log("msg", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// logStartupError logs each line of err (validate joins one error per
// setting) as a log line of its own.
func logStartupError(logger log.Logger, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		level.Error(logger).Log("msg", line)
	}
}

// setDefaultLoggers sends what libraries log through the standard library's
// default loggers to the program's logger too: slog.Default's lines, and
// the log package's (net/http servers without an ErrorLog, …) at
// level=error.
func setDefaultLoggers(logger log.Logger, webLogger *slog.Logger) {
	slog.SetDefault(webLogger)
	stdlog.SetFlags(0)
	stdlog.SetPrefix("")
	stdlog.SetOutput(errorLogWriter{level.Error(logger)})
}
