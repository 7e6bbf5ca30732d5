package header

import (
	"errors"
	"testing"
)

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{OK, "ok"},
		{ErrTruncated, "truncated"},
		{ErrVersion, "bad_version"},
		{ErrHeaderLen, "bad_header_len"},
		{ErrTotalLen, "bad_total_len"},
		{ErrChecksum, "bad_checksum"},
		{ErrBadLength, "bad_length"},
		{ErrUnsupported, "unsupported"},
		{ErrExtHeader, "bad_ext_header"},
		{ErrUnknownNextHeader, "unknown_next_header"},
		{ErrOption, "bad_option"},
		{NumErrors, "unknown"},
		{255, "unknown"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("Error(%d).String(): got %v, want %v", uint8(tt.e), got, tt.want)
		}
	}
	if got, want := int(NumErrors), 11; got != want {
		t.Errorf("NumErrors: got %v, want %v", got, want)
	}
}

func TestErrorErr(t *testing.T) {
	if err := OK.Err(); err != nil {
		t.Errorf("OK.Err(): got %v, want nil", err)
	}
	seen := make(map[string]Error)
	for e := Error(1); e < NumErrors; e++ {
		err := e.Err()
		if err == nil {
			t.Fatalf("%v.Err(): got nil, want non-nil", e)
		}
		if !errors.Is(err, e.Err()) {
			t.Errorf("errors.Is(%v.Err(), %v.Err()): got false, want true", e, e)
		}
		if prev, ok := seen[err.Error()]; ok {
			t.Errorf("%v.Err() and %v.Err() have the same message %q", e, prev, err.Error())
		}
		seen[err.Error()] = e
		for o := Error(1); o < NumErrors; o++ {
			if o != e && errors.Is(err, o.Err()) {
				t.Errorf("errors.Is(%v.Err(), %v.Err()): got true, want false", e, o)
			}
		}
	}
}
