package main

import "testing"

func TestParseStatCPU(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	got, err := parseStatCPU("cpu  100 20 300 9999 55 7 8 9 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(100+20+300+7+8+9) / clkTck; got != want {
		t.Fatalf("busy = %v, want %v", got, want)
	}
	if _, err := parseStatCPU("cpu0 1 2 3 4 5 6 7 8\n"); err == nil {
		t.Fatal("cpu0 line accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	// utime (field 14) 250, stime (field 15) 50.
	line := "4242 (kernel) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 5 0 123 0 0"
	got, ok := parseProcStat(line, "kernel")
	if !ok || got != 3 {
		t.Fatalf("parseProcStat = %v, %v; want 3, true", got, ok)
	}
	if _, ok := parseProcStat("4242 (ip) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0", "kernel"); ok {
		t.Fatal("a process that is not the relay was measured")
	}
}
