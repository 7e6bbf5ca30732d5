//go:build !cgo || nodpdk

package dpdk

import "go.uber.org/zap"

// RouteLog does nothing without DPDK: there is no DPDK log.
func RouteLog(log *zap.Logger) error { return nil }
