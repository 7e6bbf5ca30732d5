module github.com/netsplice/netsplice

go 1.26.0

require (
	github.com/google/gopacket v1.1.19
	go.uber.org/zap v1.28.0
	go.yaml.in/yaml/v3 v3.0.6
	golang.org/x/sys v0.50.0
)

require (
	go.uber.org/multierr v1.10.0 // indirect
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859 // indirect
)
