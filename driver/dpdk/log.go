//go:build cgo && !nodpdk

package dpdk

/*
#include <stdlib.h>
#include "ns_dpdk.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"sync"
	"unsafe"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// dlog is where RouteLog sends DPDK's log lines.
var dlog struct {
	mu      sync.Mutex
	log     *zap.Logger
	partial []byte // a line not ended yet
}

// RouteLog sends DPDK's own log (rte_log: EAL, PMDs, ethdev) to log,
// one entry per line at the line's DPDK level (emerg..err: error, warning:
// warn, notice and info: info, debug: debug), instead of to stderr. Call
// it before InitEAL to catch EAL's start-up lines too; RouteLog(nil) goes
// back to stderr. Not for the data path: DPDK logs on the control path.
func RouteLog(log *zap.Logger) error {
	dlog.mu.Lock()
	dlog.log = log
	dlog.mu.Unlock()
	on := C.int(0)
	if log != nil {
		on = 1
	}
	if C.ns_log_route(on) != 0 {
		return errors.New("dpdk: routing the log: fopencookie or rte_openlog_stream failed")
	}
	return nil
}

// nsLogWrite receives what DPDK writes to the routed stream: whole lines
// as a rule (the stream is line-buffered), on whichever thread logs.
//
//export nsLogWrite
func nsLogWrite(level C.int, buf *C.char, n C.int) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	dlog.mu.Lock()
	defer dlog.mu.Unlock()
	dlog.partial = append(dlog.partial, b...)
	for {
		i := bytes.IndexByte(dlog.partial, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(dlog.partial[:i], "\r"))
		dlog.partial = dlog.partial[i+1:]
		if dlog.log != nil && line != "" {
			if ce := dlog.log.Check(rteLevel(int(level)), line); ce != nil {
				ce.Write()
			}
		}
	}
	if len(dlog.partial) == 0 {
		dlog.partial = nil
	}
}

// rteLevel maps a DPDK log level (RTE_LOG_EMERG 1 .. RTE_LOG_DEBUG 8) to
// zap's.
func rteLevel(l int) zapcore.Level {
	switch {
	case l >= 1 && l <= 4: // emerg, alert, crit, err
		return zapcore.ErrorLevel
	case l == 5: // warning
		return zapcore.WarnLevel
	case l == 8:
		return zapcore.DebugLevel
	}
	return zapcore.InfoLevel // notice, info, unknown
}
