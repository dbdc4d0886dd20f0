package lmbatch_test

import (
	"strings"
	"testing"
	"time"

	"lmbatch"
)

// Nothing listens on the discard port of the loopback address: each connection is refused.
const (
	deadEndpoint  = "http://127.0.0.1:9"
	deadEndpoint2 = "http://127.0.0.1:10"
)

// Every BackendRemote failure the library can tell at create, without a server: each proves that
// a Config field reaches lm_config (the library's message names what it was given).
func TestRemoteCreateFailuresNameWhatTheyWereGiven(t *testing.T) {
	remote := func(c lmbatch.Config) lmbatch.Config {
		c.Backend = lmbatch.BackendRemote
		c.RemoteConnectTimeout = 200 * time.Millisecond
		return c
	}
	cases := []struct {
		name  string
		cfg   lmbatch.Config
		want  error
		words []string
	}{
		{"one dead endpoint", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint}}),
			lmbatch.ErrBackendUnavailable, []string{deadEndpoint}},
		// Both named: the list reached the library as two endpoints.
		{"two dead endpoints", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint, deadEndpoint2},
			RemoteModel: "face_landmark_u8", RemoteModelVersion: "1", RemoteTimeout: time.Second,
			RemoteHeaders: []string{"authorization: Bearer x", "x-tenant: 7"}}),
			lmbatch.ErrBackendUnavailable, []string{deadEndpoint + ": ", deadEndpoint2 + ": "}},
		{"no endpoints", remote(lmbatch.Config{}), lmbatch.ErrInvalidArgument, []string{"remote_endpoints"}},
		{"empty endpoint entries", remote(lmbatch.Config{RemoteEndpoints: []string{"", ""}}),
			lmbatch.ErrInvalidArgument, []string{"remote_endpoints"}},
		{"not http", remote(lmbatch.Config{RemoteEndpoints: []string{"ftp://127.0.0.1:9"}}),
			lmbatch.ErrInvalidArgument, []string{"ftp://127.0.0.1:9"}},
		// The second line alone is refused: the lines reached the library one per line.
		{"header line without a colon", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint},
			RemoteHeaders: []string{"x-tenant: 7", "nocolon"}}),
			lmbatch.ErrInvalidArgument, []string{`line "nocolon"`}},
		{"missing CA file", remote(lmbatch.Config{RemoteEndpoints: []string{"https://127.0.0.1:9"},
			RemoteCAFile: "/nonexistent/ca.pem"}), lmbatch.ErrInvalidArgument, []string{"/nonexistent/ca.pem"}},
		// Refused by the binding before the library sees them.
		{"comma in an endpoint", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint + "," + deadEndpoint2}}),
			lmbatch.ErrInvalidArgument, []string{"remote_endpoints", `","`}},
		{"newline in a header", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint},
			RemoteHeaders: []string{"a: 1\nb: 2"}}), lmbatch.ErrInvalidArgument, []string{"remote_headers"}},
		{"NUL in the model", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint}, RemoteModel: "a\x00b"}),
			lmbatch.ErrInvalidArgument, []string{"remote_model", "NUL"}},
		{"timeout past uint32 ms", remote(lmbatch.Config{RemoteEndpoints: []string{deadEndpoint},
			RemoteTimeout: 1200 * time.Hour}), lmbatch.ErrInvalidArgument, []string{"remote_timeout"}},
	}
	for _, c := range cases {
		se, _ := createError(t, c.name, c.cfg, c.want)
		if se == nil {
			continue
		}
		for _, w := range c.words {
			if !strings.Contains(se.Message, w) {
				t.Errorf("%s: message %q should contain %q", c.name, se.Message, w)
			}
		}
	}
}

// The remote settings mean nothing to another backend: a CPU pipeline ignores them.
func TestRemoteFieldsAreIgnoredByTheCPUBackend(t *testing.T) {
	p := newPipeline(t, lmbatch.Config{Backend: lmbatch.BackendCPU, RemoteEndpoints: []string{deadEndpoint}})
	if err := p.Enqueue(1, astronaut(t), astroBox); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PopWait(1, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Batches != 1 || s.RemoteRetries != 0 || s.RemoteFailovers != 0 {
		t.Errorf("CPU stats: batches %d, remote retries %d, failovers %d; want 1, 0, 0",
			s.Batches, s.RemoteRetries, s.RemoteFailovers)
	}
}
