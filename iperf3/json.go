package iperf3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// jsonObject is a decoded JSON object whose members are read leniently,
// as iperf3's cJSON reads them: numbers may come as integers, as
// 18446744073709551615 or as 1.8446744073709552e+19 (iperf3 prints -1
// retransmits both ways), and a member of the wrong type counts as absent.
type jsonObject map[string]json.RawMessage

func parseObject(b []byte) (jsonObject, error) {
	var o jsonObject
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&o); err != nil {
		return nil, fmt.Errorf("%w: bad JSON: %v", ErrProtocol, err)
	}
	if o == nil {
		return nil, fmt.Errorf("%w: JSON is not an object", ErrProtocol)
	}
	return o, nil
}

// isTrue reports whether key is present and true.
func (o jsonObject) isTrue(key string) bool {
	return string(bytes.TrimSpace(o[key])) == "true"
}

// has reports whether key is present at all (cJSON's test for flags such
// as "reverse" in iperf3 before 3.17).
func (o jsonObject) has(key string) bool { _, ok := o[key]; return ok }

// number returns key's numeric value as its literal text.
func (o jsonObject) number(key string) (string, bool) {
	raw := bytes.TrimSpace(o[key])
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return "", false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// float returns key as a float64 (0 when absent or not a number).
func (o jsonObject) float(key string) (float64, bool) {
	s, ok := o.number(key)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// int64 returns key as an int64, clamped; values above MaxInt64 (iperf3's
// unsigned -1) read as -1.
func (o jsonObject) int64(key string) (int64, bool) {
	s, ok := o.number(key)
	if !ok {
		return 0, false
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	if _, err := strconv.ParseUint(s, 10, 64); err == nil {
		return -1, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	switch {
	case f >= math.MaxInt64:
		return -1, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(f), true
}

// uint64 returns key as a uint64; negative values read as 0.
func (o jsonObject) uint64(key string) (uint64, bool) {
	s, ok := o.number(key)
	if !ok {
		return 0, false
	}
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	switch {
	case f <= 0:
		return 0, true
	case f >= math.MaxUint64:
		return math.MaxUint64, true
	}
	return uint64(f), true
}

// string returns key as a string.
func (o jsonObject) string(key string) (string, bool) {
	raw := o[key]
	if len(raw) == 0 {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// params are a test's parameters as the client sends them in
// PARAM_EXCHANGE (iperf_api.c send_parameters). Rate is per stream.
type params struct {
	TCP, UDP, SCTP   bool
	Omit             int64 // seconds
	Time             int64 // seconds; 0 with Bytes or Blocks
	Bytes            uint64
	Blocks           uint64
	MSS              int64
	NoDelay          bool
	Parallel         int64
	Reverse          bool
	Bidir            bool
	Window           int64 // socket buffer bytes
	BlockSize        int64 // "len"
	Rate             uint64
	FQRate           uint64
	PacingTimer      int64 // microseconds
	Burst            int64
	TOS              int64
	FlowLabel        int64
	Title            string
	ExtraData        string
	Congestion       string
	GetServerOutput  bool
	UDP64            bool
	RepeatingPayload bool
	ZeroCopy         bool
	DontFragment     bool
	AuthToken        bool
	MPTCP            bool
	ClientVersion    string
}

// parseParams decodes the PARAM_EXCHANGE JSON. It checks types, not
// ranges; see (*params).check.
func parseParams(b []byte) (params, error) {
	o, err := parseObject(b)
	if err != nil {
		return params{}, err
	}
	var p params
	p.TCP = o.isTrue("tcp")
	p.UDP = o.isTrue("udp")
	p.SCTP = o.isTrue("sctp")
	p.Omit, _ = o.int64("omit")
	p.Time, _ = o.int64("time")
	p.Bytes, _ = o.uint64("num")
	p.Blocks, _ = o.uint64("blockcount")
	p.MSS, _ = o.int64("MSS")
	p.NoDelay = o.has("nodelay")
	p.Parallel, _ = o.int64("parallel")
	p.Reverse = o.has("reverse") && !bytes.Equal(bytes.TrimSpace(o["reverse"]), []byte("false"))
	p.Bidir = o.has("bidirectional") && !bytes.Equal(bytes.TrimSpace(o["bidirectional"]), []byte("false"))
	p.Window, _ = o.int64("window")
	p.BlockSize, _ = o.int64("len")
	p.Rate, _ = o.uint64("bandwidth")
	p.FQRate, _ = o.uint64("fqrate")
	p.PacingTimer, _ = o.int64("pacing_timer")
	p.Burst, _ = o.int64("burst")
	p.TOS, _ = o.int64("TOS")
	p.FlowLabel, _ = o.int64("flowlabel")
	p.Title, _ = o.string("title")
	p.ExtraData, _ = o.string("extra_data")
	p.Congestion, _ = o.string("congestion")
	p.GetServerOutput = o.has("get_server_output")
	p.UDP64 = o.has("udp_counters_64bit")
	p.RepeatingPayload = o.has("repeating_payload")
	if z, ok := o.int64("zerocopy"); ok && z != 0 {
		p.ZeroCopy = true
	}
	if d, ok := o.int64("dont_fragment"); ok && d != 0 {
		p.DontFragment = true
	}
	p.AuthToken = o.has("authtoken")
	p.MPTCP = o.isTrue("mptcp")
	p.ClientVersion, _ = o.string("client_version")
	if !p.TCP && !p.UDP && !p.SCTP {
		// iperf3 defaults to TCP when the client names no protocol.
		p.TCP = true
	}
	return p, nil
}

// check validates p for a server with the given stream limit and UDP
// support, returning the SERVER_ERROR to send when it refuses.
func (p *params) check(maxStreams int, haveUDP bool) *testError {
	switch {
	case p.SCTP:
		return refuse(ieNoSCTP, 0, ErrUnsupported, "SCTP")
	case p.TCP && p.UDP:
		return refuse(ieProtocol, errnoEINVAL, ErrProtocol, "both TCP and UDP")
	case p.UDP && !haveUDP:
		return refuse(ieProtocol, errnoEPROTONOSUP, ErrUnsupported, "UDP tests need Config.ListenUDP")
	case p.AuthToken:
		return refuse(ieAuthTest, 0, ErrUnsupported, "authentication (RSA) is not supported")
	case p.Reverse && p.Bidir:
		return refuse(ieReverseBidir, 0, ErrProtocol, "both reverse and bidirectional")
	case p.ZeroCopy && (p.Reverse || p.Bidir):
		return refuse(ieNoSendfile, 0, ErrUnsupported, "zero copy (-Z) on the sending server")
	case p.Parallel < 1 || p.Parallel > int64(maxStreams):
		return refuse(ieNumStreams, 0, ErrProtocol, "%d parallel streams (limit %d)", p.Parallel, maxStreams)
	case p.Time < 0 || p.Time > MaxDuration:
		return refuse(ieDuration, 0, ErrProtocol, "duration %d s", p.Time)
	case p.Omit < 0 || p.Omit > MaxDuration:
		return refuse(ieOmit, 0, ErrProtocol, "omit %d s", p.Omit)
	case p.Burst < 0 || p.Burst > MaxBurst:
		return refuse(ieBurst, 0, ErrProtocol, "burst %d", p.Burst)
	case p.TCP && (p.BlockSize < 0 || p.BlockSize > MaxTCPBlockSize):
		return refuse(ieBlockSize, 0, ErrProtocol, "block size %d", p.BlockSize)
	case p.UDP && p.BlockSize != 0 && (p.BlockSize < MinUDPBlockSize || p.BlockSize > MaxUDPBlockSize):
		return refuse(ieUDPBlockSize, 0, ErrProtocol, "UDP block size %d", p.BlockSize)
	}
	if p.BlockSize == 0 {
		p.BlockSize = defaultTCPBlockSize
		if p.UDP {
			p.BlockSize = defaultUDPBlockSize
		}
	}
	if p.PacingTimer <= 0 || p.PacingTimer > 1e6 {
		p.PacingTimer = 1000
	}
	return nil
}

// proto is "tcp" or "udp".
func (p *params) proto() string {
	if p.UDP {
		return "udp"
	}
	return "tcp"
}

// encode is the client's PARAM_EXCHANGE JSON (send_parameters).
func (p *params) encode() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	add := func(key string, v any) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(key)
		val, _ := json.Marshal(v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(val)
	}
	if p.UDP {
		add("udp", true)
	} else {
		add("tcp", true)
	}
	add("omit", p.Omit)
	add("time", p.Time)
	add("num", p.Bytes)
	add("blockcount", p.Blocks)
	if p.MSS != 0 {
		add("MSS", p.MSS)
	}
	if p.NoDelay {
		add("nodelay", true)
	}
	add("parallel", p.Parallel)
	if p.Reverse {
		add("reverse", true)
	}
	if p.Bidir {
		add("bidirectional", true)
	}
	if p.Window != 0 {
		add("window", p.Window)
	}
	if p.BlockSize != 0 {
		add("len", p.BlockSize)
	}
	if p.Rate != 0 {
		add("bandwidth", p.Rate)
	}
	if p.PacingTimer != 0 {
		add("pacing_timer", p.PacingTimer)
	}
	if p.Burst != 0 {
		add("burst", p.Burst)
	}
	if p.Title != "" {
		add("title", p.Title)
	}
	if p.ExtraData != "" {
		add("extra_data", p.ExtraData)
	}
	if p.UDP64 {
		add("udp_counters_64bit", 1)
	}
	if p.RepeatingPayload {
		add("repeating_payload", 1)
	}
	add("client_version", p.ClientVersion)
	b.WriteByte('}')
	return b.Bytes()
}

// streamResult is one stream in a results JSON (send_results): the
// figures of the side that sends it.
type streamResult struct {
	ID          int64   `json:"id"`
	Bytes       uint64  `json:"bytes"`
	Retransmits int64   `json:"retransmits"`
	Jitter      float64 `json:"jitter"` // seconds
	Errors      int64   `json:"errors"`
	Packets     int64   `json:"packets"`
	StartTime   float64 `json:"start_time"`
	EndTime     float64 `json:"end_time"`
}

// results is a results JSON, sent both ways in EXCHANGE_RESULTS.
type results struct {
	CPUTotal             float64        `json:"cpu_util_total"`
	CPUUser              float64        `json:"cpu_util_user"`
	CPUSystem            float64        `json:"cpu_util_system"`
	SenderHasRetransmits int64          `json:"sender_has_retransmits"`
	CongestionUsed       string         `json:"congestion_used,omitempty"`
	Streams              []streamResult `json:"streams"`
	ServerOutputText     string         `json:"server_output_text,omitempty"`
}

// maxResultStreams bounds the streams a results JSON may list.
const maxResultStreams = 2 * MaxStreams

// parseResults decodes a results JSON. Like iperf3's get_results it
// requires the CPU and retransmit members and, per stream, id, bytes,
// retransmits, jitter, errors and packets.
func parseResults(b []byte) (results, error) {
	var r results
	o, err := parseObject(b)
	if err != nil {
		return r, err
	}
	var ok [4]bool
	r.CPUTotal, ok[0] = o.float("cpu_util_total")
	r.CPUUser, ok[1] = o.float("cpu_util_user")
	r.CPUSystem, ok[2] = o.float("cpu_util_system")
	r.SenderHasRetransmits, ok[3] = o.int64("sender_has_retransmits")
	if !ok[0] || !ok[1] || !ok[2] || !ok[3] {
		return r, fmt.Errorf("%w: results lack CPU or retransmit members", ErrProtocol)
	}
	r.CongestionUsed, _ = o.string("congestion_used")
	r.ServerOutputText, _ = o.string("server_output_text")
	var raws []json.RawMessage
	if err := json.Unmarshal(o["streams"], &raws); err != nil || raws == nil {
		return r, fmt.Errorf("%w: results lack a streams array", ErrProtocol)
	}
	if len(raws) > maxResultStreams {
		return r, fmt.Errorf("%w: results list %d streams", ErrProtocol, len(raws))
	}
	for _, raw := range raws {
		so, err := parseObject(raw)
		if err != nil {
			return r, err
		}
		var s streamResult
		var ok [6]bool
		s.ID, ok[0] = so.int64("id")
		s.Bytes, ok[1] = so.uint64("bytes")
		s.Retransmits, ok[2] = so.int64("retransmits")
		s.Jitter, ok[3] = so.float("jitter")
		s.Errors, ok[4] = so.int64("errors")
		s.Packets, ok[5] = so.int64("packets")
		for _, v := range ok {
			if !v {
				return r, fmt.Errorf("%w: a results stream lacks a member", ErrProtocol)
			}
		}
		s.StartTime, _ = so.float("start_time")
		s.EndTime, _ = so.float("end_time")
		if math.IsInf(s.Jitter, 0) || math.IsInf(s.EndTime, 0) || math.IsInf(s.StartTime, 0) {
			return r, fmt.Errorf("%w: infinite number in results", ErrProtocol)
		}
		r.Streams = append(r.Streams, s)
	}
	return r, nil
}

func (r *results) encode() []byte {
	if r.Streams == nil {
		r.Streams = []streamResult{}
	}
	b, _ := json.Marshal(r)
	return b
}
