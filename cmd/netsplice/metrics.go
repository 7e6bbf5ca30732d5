package main

import (
	"errors"
	"flag"
	"net"
	"net/http"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/netsplice/netsplice/metrics"
	"github.com/netsplice/netsplice/splice"
	"github.com/netsplice/netsplice/stack"
)

// metricsFlag is --metrics ADDR:PORT of serve and relay: the management
// listener (/metrics, /healthz, /readyz) on the kernel's network stack,
// never on the DPDK ports.
type metricsFlag struct {
	addr string
	l    net.Listener
	srv  *http.Server
}

func addMetricsFlag(fs *flag.FlagSet) *metricsFlag {
	f := &metricsFlag{}
	fs.StringVar(&f.addr, "metrics", "", "serve /metrics (Prometheus), /healthz and /readyz over HTTP on this kernel-stack `ADDR:PORT` (e.g. 127.0.0.1:9100 or :9100)")
	return f
}

// check validates --metrics without binding: HOST:PORT with a port
// 1..65535 (the host may be empty for every address).
func (f *metricsFlag) check() error {
	if f.addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(f.addr)
	if err != nil {
		return usageErr("--metrics %q: want ADDR:PORT such as 127.0.0.1:9100 or :9100", f.addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return usageErr("--metrics %q: port %q must be 1..65535", f.addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return usageErr("--metrics %q: %q is neither an IP address nor a host name", f.addr, host)
	}
	return nil
}

// validHostname reports whether h is made of DNS labels.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	label := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			label++
		case c == '.' && label > 0:
			label = 0
		default:
			return false
		}
		if label > 63 {
			return false
		}
	}
	return label > 0 || len(h) > 1
}

// listen validates --metrics and binds it, before DPDK starts, so a bad or
// taken address is refused (exit status 2) without starting anything.
// Nothing is served until serve.
func (f *metricsFlag) listen() error {
	if err := f.check(); err != nil || f.addr == "" {
		return err
	}
	l, err := net.Listen("tcp", f.addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return usageErr("--metrics %s: %v", f.addr, err)
	}
	f.l = l
	return nil
}

// serve starts answering on the bound listener for st (and sp, when not
// nil); the caller registers relays and sets the state on what it
// returns. Without --metrics it still returns a Metrics, served nowhere.
func (f *metricsFlag) serve(st *stack.Stack, sp *splice.Splicer, log *zap.Logger) *metrics.Metrics {
	m := metrics.New(st, sp, nil)
	if f.l == nil {
		return m
	}
	f.srv = &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: zap.NewStdLog(log)}
	l := f.l
	go func() {
		if err := f.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", zap.Error(err))
		}
	}()
	log.Info("metrics listening", zap.String("url", "http://"+l.Addr().String()+"/metrics"))
	return m
}

// close stops the listener and the server.
func (f *metricsFlag) close() {
	if f.srv != nil {
		f.srv.Close()
	} else if f.l != nil {
		f.l.Close()
	}
}
