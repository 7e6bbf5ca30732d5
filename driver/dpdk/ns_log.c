//go:build cgo && !nodpdk

// DPDK's log into Go: a stdio stream (fopencookie) whose writes go to the
// Go function nsLogWrite with the level of the message being written.

#define _GNU_SOURCE
#include <stdio.h>
#include <sys/types.h>

#include "_cgo_export.h"
#include "ns_dpdk.h"

// ns_log_file is the routed stream once made; ns_log_routed says whether
// DPDK's log goes there (else to stderr).
static FILE *ns_log_file;
static int ns_log_routed;

static ssize_t ns_log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	// rte_log_cur_msg_loglevel is the level of the message this thread
	// is writing (rte_vlog sets it first); other writes get -1 or a stale
	// level, which Go maps to info.
	nsLogWrite(rte_log_cur_msg_loglevel(), (char *)buf, (int)size);
	return (ssize_t)size;
}

FILE *ns_log_stream(void)
{
	return ns_log_routed ? ns_log_file : stderr;
}

int ns_log_route(int on)
{
	if (on && ns_log_file == NULL) {
		cookie_io_functions_t io = {.read = NULL, .write = ns_log_write, .seek = NULL, .close = NULL};
		FILE *f = fopencookie(NULL, "w", io);
		if (f == NULL)
			return -1;
		// One write per line (rte_log messages end in a newline).
		setvbuf(f, NULL, _IOLBF, 4096);
		ns_log_file = f;
	}
	ns_log_routed = on;
	return rte_openlog_stream(ns_log_stream());
}
