//go:build cgo && !nodpdk

package dpdk

/*
#cgo pkg-config: libdpdk
#cgo CFLAGS: -O2
#include <errno.h>
#include <stdlib.h>
#include <rte_version.h>
#include "ns_dpdk.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Available reports whether this binary was built with DPDK.
const Available = true

// eal is the process-wide EAL state.
var eal struct {
	mu    sync.Mutex
	state int // ealNone, ealUp or ealDone
	ports map[*Port]struct{}
	c     [C.NS_C_NUM]uint64
}

const (
	ealNone = iota
	ealUp
	ealDone
)

const errLen = 512

func cerr(buf []C.char) string { return C.GoString(&buf[0]) }

// InitEAL initialises DPDK's environment abstraction layer with args,
// passed through unchanged after a program name ("netsplice"), so every
// EAL option and PMD works: "-a 0000:3b:00.0", "--vdev=net_ring0",
// "--no-huge -m 256", ... It succeeds at most once per process: EAL cannot
// be initialised twice, so a second call returns an error. EAL's own log
// goes to stderr, or where RouteLog sends it.
func InitEAL(args []string) error {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	switch eal.state {
	case ealUp:
		return errors.New("dpdk: EAL is already initialised (once per process)")
	case ealDone:
		return errors.New("dpdk: EAL was cleaned up and cannot be initialised again in this process")
	}
	// The strings stay allocated: EAL may keep pointers into argv.
	all := append([]string{"netsplice"}, args...)
	argv := (**C.char)(C.calloc(C.size_t(len(all)+1), C.size_t(unsafe.Sizeof(uintptr(0)))))
	av := unsafe.Slice(argv, len(all)+1)
	for i, a := range all {
		av[i] = C.CString(a)
	}
	var buf [errLen]C.char
	// EAL makes the calling thread its main lcore; keep the call on one
	// thread from start to end.
	runtime.LockOSThread()
	ret := C.ns_eal_init(C.int(len(all)), argv, &buf[0], errLen)
	runtime.UnlockOSThread()
	if ret < 0 {
		msg := cerr(buf[:])
		return fmt.Errorf("dpdk: EAL refused the arguments %q: %s%s", args, msg, ealHint(msg))
	}
	C.ns_consts((*C.uint64_t)(unsafe.Pointer(&eal.c[0])))
	if eal.c[C.NS_C_HEADROOM] != 128 {
		return fmt.Errorf("dpdk: RTE_PKTMBUF_HEADROOM is %d, netsplice is built for 128", eal.c[C.NS_C_HEADROOM])
	}
	eal.state = ealUp
	eal.ports = make(map[*Port]struct{})
	return nil
}

// ealHint names the likely cause of an rte_eal_init failure from the
// errno at the end of its message ("rte_eal_init: ... (errno N)"), for
// the failures whose DPDK text alone does not say what to change.
func ealHint(msg string) string {
	i := strings.LastIndex(msg, "(errno ")
	if i < 0 {
		return ""
	}
	e, err := strconv.Atoi(strings.TrimSuffix(msg[i+len("(errno "):], ")"))
	if err != nil {
		return ""
	}
	switch e {
	case 0:
		return "; likely another DPDK process uses the same --file-prefix (stop it, or give this one its own --file-prefix=NAME, or --no-shconf, in the EAL arguments)"
	case int(C.EACCES):
		return "; likely no hugepages mounted or no permission to use them (run as root with hugetlbfs mounted, or add --no-huge -m 512 to the EAL arguments)"
	case int(C.ENOMEM):
		return "; not enough memory for -m (lower -m, reserve more hugepages, or add --no-huge -m 512 to the EAL arguments)"
	case int(C.EALREADY):
		return "; EAL runs once per process"
	}
	return ""
}

// Version returns the version of the DPDK libraries the binary runs with
// (rte_version), e.g. "DPDK 22.11.4".
func Version() string { return C.GoString(C.rte_version()) }

// Initialized reports whether InitEAL succeeded and Cleanup has not run.
func Initialized() bool {
	eal.mu.Lock()
	defer eal.mu.Unlock()
	return eal.state == ealUp
}

// Cleanup stops and closes every open port and releases EAL's resources
// (rte_eal_cleanup). Every packet of every port must be back with its
// owner's pool, and no softnet may run: mbuf memory is gone afterwards.
// DPDK cannot be used again in this process.
func Cleanup() error {
	eal.mu.Lock()
	if eal.state != ealUp {
		eal.mu.Unlock()
		return nil
	}
	ports := make([]*Port, 0, len(eal.ports))
	for p := range eal.ports {
		ports = append(ports, p)
	}
	eal.mu.Unlock()
	var errs []error
	for _, p := range ports {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	eal.mu.Lock()
	defer eal.mu.Unlock()
	eal.state = ealDone
	var buf [errLen]C.char
	if C.ns_eal_cleanup(&buf[0], errLen) < 0 {
		errs = append(errs, fmt.Errorf("dpdk: %s", cerr(buf[:])))
	}
	return errors.Join(errs...)
}

// ThreadInit registers the calling OS thread with EAL as a non-EAL lcore
// (rte_thread_register), so that mempool per-lcore caches apply to it. It
// is meant for stack.Config.ThreadInit, which calls it on each softnet's
// locked thread. See the package documentation for why softnets are
// registered threads rather than EAL lcores.
func ThreadInit(softnet int) error {
	if !Initialized() {
		return fmt.Errorf("dpdk: softnet %d: EAL is not initialised", softnet)
	}
	var buf [errLen]C.char
	if C.ns_thread_register(&buf[0], errLen) < 0 {
		return fmt.Errorf("dpdk: softnet %d: %s (is RTE_MAX_LCORE reached? keep -l to one core)", softnet, cerr(buf[:]))
	}
	return nil
}

// ThreadExit unregisters the calling thread (rte_thread_unregister),
// releasing its lcore id. It is meant for stack.Config.ThreadExit.
func ThreadExit(softnet int) {
	if Initialized() {
		C.ns_thread_unregister()
	}
}

// LcoreID returns the calling thread's lcore id, or -1 for a thread EAL
// does not know. The caller should hold its OS thread locked.
func LcoreID() int {
	if !Initialized() {
		return -1
	}
	return int(C.ns_lcore_id())
}

func registerPort(p *Port) {
	eal.mu.Lock()
	eal.ports[p] = struct{}{}
	eal.mu.Unlock()
}

func unregisterPort(p *Port) {
	eal.mu.Lock()
	delete(eal.ports, p)
	eal.mu.Unlock()
}
