package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/health"
	"github.com/xlbproject/xlb/loader"
	"github.com/xlbproject/xlb/testenv"
)

// Each checker block becomes the health checker and loop options it says.
func TestHealthCheckerFromConfig(t *testing.T) {
	vs := func(real string) string {
		return "virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    delay_loop 2\n    real_server 198.18.1.2 80 {\n" + real + "\n    }\n}\n"
	}
	for _, tc := range []struct {
		desc    string
		conf    string
		check   func(t *testing.T, chk health.Checker, opts health.LoopOptions)
		wantErr string
		// parserMay, when set, is what a parser error must name if the
		// parser rejects the value before xlbd sees it.
		parserMay string
	}{
		{
			desc: "HTTP_GET: urls, status codes, digest, regex, virtualhost, http_protocol, timing",
			conf: vs(`HTTP_GET {
            url {
                path /health.cgi
                status_code 200 301-302
                digest 9b3d4a0e4f0bb1b4a4c1f5c5f4f3e2d1
            }
            url {
                path /ready
                regex "^ok"
                virtualhost ready.example
            }
            virtualhost www.example
            http_protocol 1.1
            connect_ip 198.18.1.20
            connect_port 8080
            bindto 198.18.1.1
            connect_timeout 3
            retry 4
            delay_before_retry 0.5
            warmup 0
        }`),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				g, ok := chk.(*health.HTTPGet)
				if !ok {
					t.Fatalf("checker %T, want *health.HTTPGet", chk)
				}
				if g.Addr != netip.MustParseAddrPort("198.18.1.20:8080") || g.BindTo != netip.MustParseAddr("198.18.1.1") {
					t.Errorf("endpoint %v from %v, want 198.18.1.20:8080 from 198.18.1.1", g.Addr, g.BindTo)
				}
				if g.VirtualHost != "www.example" || g.Protocol != health.HTTP11 {
					t.Errorf("virtualhost %q protocol %q, want www.example 1.1", g.VirtualHost, g.Protocol)
				}
				if len(g.URLs) != 2 {
					t.Fatalf("%d urls, want 2", len(g.URLs))
				}
				u := g.URLs[0]
				if u.Path != "/health.cgi" || u.Digest != "9b3d4a0e4f0bb1b4a4c1f5c5f4f3e2d1" ||
					fmt.Sprint(u.StatusCodes) != "[200 301-302]" {
					t.Errorf("url 1: %+v", u)
				}
				if u := g.URLs[1]; u.Regex == nil || u.Regex.String() != "^ok" || u.VirtualHost != "ready.example" {
					t.Errorf("url 2: %+v", u)
				}
				want := health.LoopOptions{DelayLoop: 2 * time.Second, ConnectTimeout: 3 * time.Second, Retry: 4, DelayBeforeRetry: 500 * time.Millisecond}
				if opts != want {
					t.Errorf("options %+v, want %+v", opts, want)
				}
			},
		},
		{
			desc: "SSL_GET without enable_sni sends no server name; alpha starts it down",
			conf: vs("SSL_GET {\n url {\n path /\n }\n alpha\n }"),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				s, ok := chk.(*health.SSLGet)
				if !ok {
					t.Fatalf("checker %T, want *health.SSLGet", chk)
				}
				if s.TLSConfig == nil || s.TLSConfig.ServerName != "198.18.1.2" || !s.TLSConfig.InsecureSkipVerify {
					t.Errorf("TLS config %+v, want ServerName the address (no SNI) and no verification", s.TLSConfig)
				}
				if !opts.Alpha || opts.Warmup != 2*time.Second {
					t.Errorf("options %+v, want alpha and warmup = delay_loop", opts)
				}
			},
		},
		{
			desc: "SSL_GET with enable_sni sends the virtualhost",
			conf: vs("SSL_GET {\n url {\n path /\n }\n enable_sni\n virtualhost www.example\n }"),
			check: func(t *testing.T, chk health.Checker, _ health.LoopOptions) {
				if s := chk.(*health.SSLGet); s.TLSConfig.ServerName != "" || s.VirtualHost != "www.example" {
					t.Errorf("ServerName %q virtualhost %q, want empty (the virtualhost is used) and www.example", s.TLSConfig.ServerName, s.VirtualHost)
				}
			},
		},
		{
			desc: "TCP_CHECK: the real's address and port, bind_port and bind_if",
			conf: vs("TCP_CHECK {\n bind_port 4000\n bind_if eth1\n }"),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				c, ok := chk.(*health.TCPCheck)
				if !ok {
					t.Fatalf("checker %T, want *health.TCPCheck", chk)
				}
				if c.Addr != netip.MustParseAddrPort("198.18.1.2:80") || c.BindPort != 4000 || c.BindIf != "eth1" {
					t.Errorf("endpoint %+v", c.Endpoint)
				}
				if opts.Retry != 1 || opts.ConnectTimeout != 5*time.Second {
					t.Errorf("options %+v, want keepalived's retry 1, connect_timeout 5s", opts)
				}
			},
		},
		{
			desc: "SMTP_CHECK helo_name",
			conf: vs("SMTP_CHECK {\n helo_name director.example\n connect_port 25\n }"),
			check: func(t *testing.T, chk health.Checker, _ health.LoopOptions) {
				c, ok := chk.(*health.SMTPCheck)
				if !ok || c.HeloName != "director.example" || c.Addr.Port() != 25 {
					t.Errorf("checker %#v, want SMTP to port 25 with helo director.example", chk)
				}
			},
		},
		{
			desc: "DNS_CHECK type and name",
			conf: vs("DNS_CHECK {\n type AAAA\n name www.example\n connect_port 53\n }"),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				c, ok := chk.(*health.DNSCheck)
				if !ok || c.Name != "www.example" || c.Type.String() != "TypeAAAA" {
					t.Errorf("checker %#v, want an AAAA query for www.example", chk)
				}
				if opts.Retry != 3 {
					t.Errorf("retry %d, want DNS_CHECK's default 3", opts.Retry)
				}
			},
		},
		{
			desc: "MISC_CHECK: path, user, dynamic; misc_timeout bounds it",
			conf: vs(`MISC_CHECK {
            misc_path "/bin/sh -c 'exit 0'"
            misc_timeout 4
            misc_dynamic
            user nobody
        }`),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				m, ok := chk.(*health.MiscCheck)
				if !ok {
					t.Fatalf("checker %T, want *health.MiscCheck", chk)
				}
				if m.Path != "/bin/sh -c 'exit 0'" || m.User != "nobody" || !m.Dynamic || m.Timeout != 4*time.Second {
					t.Errorf("misc check %+v", m)
				}
				if opts.ConnectTimeout != 4*time.Second+miscSlack || opts.Retry != 0 {
					t.Errorf("options %+v, want the budget misc_timeout+%v and retry 0", opts, miscSlack)
				}
			},
		},
		{
			desc: "MISC_CHECK and notify scripts without a user run as script_user",
			conf: "global_defs {\n script_user nobody nogroup\n}\n" + vs("MISC_CHECK {\n misc_path /bin/true\n }"),
			check: func(t *testing.T, chk health.Checker, opts health.LoopOptions) {
				if m := chk.(*health.MiscCheck); m.User != "nobody" || m.Group != "nogroup" {
					t.Errorf("misc check runs as %q:%q, want nobody:nogroup", m.User, m.Group)
				}
				if opts.ConnectTimeout != 2*time.Second+miscSlack {
					t.Errorf("budget %v, want misc_timeout (default delay_loop 2s) + %v", opts.ConnectTimeout, miscSlack)
				}
			},
		},
		{
			desc:      "delay_loop 0 cannot be run: an error with the checker's position",
			conf:      vs("TCP_CHECK {\n delay_loop 0\n }"),
			wantErr:   "h.conf:5:1: real 198.18.1.2:80 of VS 198.18.0.100:80 TCP_CHECK: bad loop options: delay_loop 0s must be above 0",
			parserMay: "h.conf:6:2: invalid delay_loop",
		},
		{
			desc:    "a misc_path that cannot be split",
			conf:    vs("MISC_CHECK {\n misc_path \"/bin/true 'open\"\n }"),
			wantErr: "unterminated '",
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := config.Parse("h.conf", []byte(tc.conf))
			if err != nil {
				if tc.parserMay != "" && strings.Contains(err.Error(), tc.parserMay) {
					return // refused even earlier, with its position
				}
				t.Fatalf("parse: %v", err)
			}
			director := control.NewDirector(func(*control.State) error { return nil }, nil)
			h := &healthChecker{log: slog.New(slog.DiscardHandler), director: director,
				reals: map[control.RealRef]*realChecks{}, byTarget: map[string][]*realChecks{},
				quorumDown: map[loader.Endpoint]bool{}}
			h.mon = health.NewMonitor(health.MonitorOptions{OnEvent: h.onEvent})
			err = h.apply(cfg) // the Monitor is not run: nothing is checked
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("apply: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if len(h.byTarget) != 1 {
				t.Fatalf("%d targets, want 1", len(h.byTarget))
			}
			vs := cfg.VirtualServers[0]
			c := vs.Reals[0].Checks[0]
			ref := control.RealRef{Service: loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.ProtoTCP}, Real: vs.Reals[0].AddrPort()}
			chk, opts, err := newChecker(ref.String(), c, h.conf.Load(), mustSSL(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, chk, opts)
		})
	}
}

func mustSSL(t *testing.T) *tls.Config {
	t.Helper()
	c, err := sslConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// switchServer is an HTTP server on loopback whose /health.cgi answers the
// status the test sets; every other path answers its name.
type switchServer struct {
	name   string
	status atomic.Int32
	addr   netip.AddrPort
}

func newSwitchServer(t *testing.T, name string) *switchServer {
	t.Helper()
	s := &switchServer{name: name}
	s.status.Store(200)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = netip.MustParseAddrPort(l.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health.cgi" {
			w.WriteHeader(int(s.status.Load()))
		}
		fmt.Fprintln(w, s.name)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// lockedLog is a slog destination tests read while the subsystem writes.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// recorder keeps the last state the Director applied.
type recorder struct {
	mu   sync.Mutex
	last *control.State
}

func (r *recorder) apply(st *control.State) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last = st
	return nil
}

// weights renders the applied reals of the first service as "port=weight".
func (r *recorder) weights() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil || len(r.last.Services) == 0 {
		return ""
	}
	var out []string
	for _, rl := range r.last.Services[0].Reals {
		out = append(out, fmt.Sprintf("%d=%d", rl.Port, rl.Weight))
	}
	return strings.Join(out, " ")
}

// waitFor polls cond every 10ms until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; log:\n%s", what, timeout, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readFile returns a file's content, "" when it does not exist yet.
func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// The subsystem on loopback: HTTP_GET failures take a real out (weight 0
// with inhibit_on_failure, removed without), it comes back, notify and
// quorum scripts run, misc_dynamic sets a weight, a reload keeps state,
// omega runs notify_down at the end.
func TestHealthSubsystem(t *testing.T) {
	a, b := newSwitchServer(t, "a"), newSwitchServer(t, "b")
	dir := t.TempDir()
	events := filepath.Join(dir, "events")
	weightFile := filepath.Join(dir, "weight")
	if err := os.WriteFile(weightFile, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Scripts append "$1 $XLB_STATE" to the events file, without xlbd's shell.
	note := func(what string) string {
		return fmt.Sprintf(`"/bin/sh -c 'echo %s $XLB_STATE >> %s'"`, what, events)
	}
	httpCheck := `HTTP_GET {
            url {
                path /health.cgi
            }
            connect_timeout 1
            retry 1
            delay_before_retry 0.05
        }`
	bChecks := httpCheck + `
        MISC_CHECK {
            misc_path "/bin/sh -c 'exit $(cat ` + weightFile + `)'"
            misc_timeout 2
            misc_dynamic
        }`
	confWith := func(bChecks string) string {
		return fmt.Sprintf(`virtual_server 127.0.0.1 80 {
    lvs_sched wrr
    delay_loop 0.1
    warmup 0
    quorum 2
    omega
    quorum_up %s
    quorum_down %s
    real_server 127.0.0.1 %d {
        weight 1
        inhibit_on_failure
        notify_up %s
        notify_down %s
        %s
    }
    real_server 127.0.0.1 %d {
        weight 1
        notify_down %s
        %s
    }
}
`, note("quorum"), note("quorum"), a.addr.Port(), note("a"), note("a"), httpCheck, b.addr.Port(), note("b"), bChecks)
	}
	conf := confWith(bChecks)
	pa, pb := a.addr.Port(), b.addr.Port()

	cfg, st := parseDesired(t, conf)
	rec := &recorder{}
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(rec.apply, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			sub.Stop()
		}
	}()
	h := sub.(*healthChecker)
	ws := func(wa, wb int) string {
		if wb < 0 {
			return fmt.Sprintf("%d=%d", pa, wa)
		}
		return fmt.Sprintf("%d=%d %d=%d", pa, wa, pb, wb)
	}
	wait := func(what, weights string) {
		t.Helper()
		waitFor(t, what+": reals "+weights, 5*time.Second, func() bool { return rec.weights() == weights }, &logs)
	}
	refA := fmt.Sprintf("real 127.0.0.1:%d of VS 127.0.0.1:80", pa)
	refB := fmt.Sprintf("real 127.0.0.1:%d of VS 127.0.0.1:80", pb)

	// misc_dynamic exit 0: up, weight unchanged.
	wait("all up", ws(1, 1))

	a.status.Store(500)
	wait("a answers 500: weight 0 (inhibit_on_failure)", ws(0, 1))
	if want := refA + " down: HTTP status 500, want 200-299; weight 1 -> 0"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	waitFor(t, "notify_down of a and quorum_down ran", 5*time.Second, func() bool {
		return strings.Contains(readFile(events), "a DOWN\n") && strings.Contains(readFile(events), "quorum DOWN\n")
	}, &logs)

	// A reload of the same file keeps a down (no flap), and the count of
	// up lines stays.
	ups := strings.Count(logs.String(), refA+" up")
	cfg2, st2 := parseDesired(t, conf)
	if err := director.SetConfig(cfg2, st2); err != nil {
		t.Fatal(err)
	}
	if err := sub.Reload(cfg2); err != nil {
		t.Fatal(err)
	}
	if got := rec.weights(); got != ws(0, 1) {
		t.Errorf("after a reload reals %s, want %s (a stays down)", got, ws(0, 1))
	}
	// Several check cycles later a is still down and was never up.
	checks := h.mon.Stats().Checks
	waitFor(t, "checks go on after the reload", 5*time.Second, func() bool { return h.mon.Stats().Checks >= checks+6 }, &logs)
	if got := rec.weights(); got != ws(0, 1) || strings.Count(logs.String(), refA+" up") != ups {
		t.Errorf("after a reload and more checks: reals %s, want %s; log:\n%s", got, ws(0, 1), logs.String())
	}

	a.status.Store(200)
	wait("a answers 200 again", ws(1, 1))
	if want := refA + " up: check succeeded; weight 0 -> 1"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	waitFor(t, "notify_up of a and quorum_up ran", 5*time.Second, func() bool {
		return strings.Contains(readFile(events), "a UP\n") && strings.Contains(readFile(events), "quorum UP\n")
	}, &logs)

	// misc_dynamic: exit 5 is up with weight 3; exit 1 is down.
	os.WriteFile(weightFile, []byte("5"), 0o644)
	wait("misc_dynamic exit 5", ws(1, 3))
	if want := refB + " weight 1 -> 3 (misc_dynamic)"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	os.WriteFile(weightFile, []byte("1"), 0o644)
	wait("misc_dynamic exit 1: b is removed (no inhibit_on_failure)", ws(1, -1))
	if want := refB + " down: MISC_CHECK: /bin/sh exited with status 1; removed from the pool (weight was 3)"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	// b's HTTP_GET failing too changes nothing more; its MISC_CHECK
	// recovering alone does not bring it back.
	b.status.Store(503)
	waitFor(t, "b's HTTP_GET down too", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), refB+": HTTP_GET down too: HTTP status 503")
	}, &logs)
	os.WriteFile(weightFile, []byte("4"), 0o644)
	waitFor(t, "b's MISC_CHECK up, b stays down", 5*time.Second, func() bool {
		return strings.Contains(logs.String(), refB+": MISC_CHECK up, the real stays down")
	}, &logs)
	if got := rec.weights(); got != ws(1, -1) {
		t.Errorf("with one of b's checkers down: reals %s, want %s", got, ws(1, -1))
	}
	b.status.Store(200)
	wait("both of b's checkers up: weight 2 from misc_dynamic", ws(1, 2))

	// A reload that removes b's checkers: b is up with its configured weight.
	noChecks := confWith("")
	b.status.Store(500)
	wait("b down before the reload", ws(1, -1))
	cfg3, st3 := parseDesired(t, noChecks)
	if err := director.SetConfig(cfg3, st3); err != nil {
		t.Fatal(err)
	}
	if err := sub.Reload(cfg3); err != nil {
		t.Fatal(err)
	}
	if got := rec.weights(); got != ws(1, 1) {
		t.Errorf("after removing b's checkers: reals %s, want %s (a real without checkers is up)", got, ws(1, 1))
	}

	// omega: stopping runs notify_down of the reals that are up (b has one)
	// and quorum_down of the service.
	before := readFile(events)
	sub.Stop()
	stopped = true
	after := strings.TrimPrefix(readFile(events), before)
	for _, want := range []string{"b DOWN\n", "a DOWN\n", "quorum DOWN\n"} {
		if !strings.Contains(after, want) {
			t.Errorf("omega at stop: scripts wrote %q, want %q in it", after, want)
		}
	}
}

func parseDesired(t *testing.T, conf string) (*config.Config, *control.State) {
	t.Helper()
	cfg, err := config.Parse("h.conf", []byte(conf))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, conf)
	}
	st, err := control.Desired(cfg, control.Limits{MaxServices: 16, RingSize: 1024, MaxReals: 4096})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, st
}

// healthServer is a real's web server for the integration tests: it answers
// /health.cgi with the status the test sets and every other path with the
// real's name. stopListening closes only the listener, as a server that
// stops accepting: established connections are still served.
type healthServer struct {
	host   *testenv.Host
	status atomic.Int32
	// healthHits and otherHits count requests to /health.cgi and to other
	// paths.
	healthHits, otherHits atomic.Int64

	mu   sync.Mutex
	ln   net.Listener
	srvs []*http.Server
}

func newHealthServer(t *testing.T, host *testenv.Host) *healthServer {
	t.Helper()
	s := &healthServer{host: host}
	s.status.Store(200)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, srv := range s.srvs {
			srv.Close()
		}
	})
	s.listen(t)
	return s
}

func (s *healthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/health.cgi" {
		s.healthHits.Add(1)
		w.WriteHeader(int(s.status.Load()))
		fmt.Fprintln(w, "health of", s.host.Name)
		return
	}
	s.otherHits.Add(1)
	fmt.Fprintln(w, s.host.Name)
}

// listen starts accepting on port 80 (again).
func (s *healthServer) listen(t *testing.T) {
	t.Helper()
	ln, err := s.host.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.ln = ln
	s.srvs = append(s.srvs, srv)
	s.mu.Unlock()
	go srv.Serve(ln)
}

func (s *healthServer) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ln.Close()
}

// waitLogCount waits until the daemon's log holds substr n times.
func waitLogCount(t *testing.T, x *xlbd, substr string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(x.Log(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("xlbd did not log %q %d time(s) within %v; its log:\n%s", substr, n, timeout, x.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// listedWeights reads the Weight column of `xlb list` per real address:port.
func listedWeights(out string) map[string]string {
	got := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
			got[f[1]] = f[3]
		}
	}
	return got
}

// onlyFrom fails unless every answer came from want.
func onlyFrom(t *testing.T, what string, seen map[string]int, want string, n int) {
	t.Helper()
	if seen[want] != n || len(seen) != 1 {
		t.Errorf("%s: %d new connections went to %v, want all to %s", what, n, seen, want)
	}
}

// The classic scenario: two reals serve /health.cgi, a third is the sorry
// server. One answers 500 -> no new connections within a check cycle, its
// established connection keeps working (inhibit_on_failure: weight 0); a
// reload keeps it down; it recovers; its server stops -> the same; it comes
// back; both fail -> the sorry server answers everything; one returns ->
// traffic returns to it.
func TestIntegrationHealthClassic(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 3})
	servers := map[string]*healthServer{}
	for _, r := range topo.Reals[:2] {
		servers[r.Name] = newHealthServer(t, r)
	}
	sorry := topo.Reals[2]
	if _, err := sorry.ServeHTTP(80); err != nil {
		t.Fatal(err)
	}
	events := filepath.Join(t.TempDir(), "events")
	script := func(what string) string {
		return fmt.Sprintf(`"/bin/sh -c 'echo %s $XLB_STATE >> %s'"`, what, events)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    delay_loop 0.5
    warmup 0
    sorry_server %s 80
    quorum_up %s
    quorum_down %s
`, sorry.Addr, script("quorum"), script("quorum"))
	for _, r := range topo.Reals[:2] {
		fmt.Fprintf(&b, `    real_server %s 80 {
        weight 1
        inhibit_on_failure
        notify_down %s
        HTTP_GET {
            url {
                path /health.cgi
            }
            connect_timeout 1
            retry 1
            delay_before_retry 0.2
        }
    }
`, r.Addr, script(r.Name))
	}
	b.WriteString("}\n")
	conf := b.String()
	x := startXlbd(t, topo, conf)
	if strings.Contains(x.Log(), "not active yet: ") && strings.Contains(x.Log(), "health checking") {
		t.Errorf("xlbd says health checking is not active:\n%s", x.Log())
	}
	if err := x.WaitLog("health checking started", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	url := "http://" + vipHTTP + "/"
	checkEvenSpread(t, getMany(t, topo.Client, url, 10), topo.Reals[:2], 10, 1)

	long := dialKeepAlive(t, topo.Client, vipHTTP)
	first := long.ask(t)
	bad := servers[first]
	if bad == nil {
		t.Fatalf("the long-lived connection was answered by %s, want real1 or real2", first)
	}
	var good *healthServer
	for name, s := range servers {
		if name != first {
			good = s
		}
	}
	lineOf := func(s *healthServer, rest string) string {
		return fmt.Sprintf("real %s:80 of VS %s %s", s.host.Addr, vipHTTP, rest)
	}
	const cycle = 10 * time.Second // bound for a state change to be logged; far above delay_loop

	// 500: the real is quiescent (weight 0), its established connection works.
	bad.status.Store(500)
	waitLogCount(t, x, lineOf(bad, "down: HTTP status 500, want 200-299; weight 1 -> 0"), 1, cycle)
	onlyFrom(t, first+" answers 500", getMany(t, topo.Client, url, 10), good.host.Name, 10)
	if got := long.ask(t); got != first {
		t.Errorf("with %s down the established connection was answered by %s", first, got)
	}
	if w := listedWeights(x.xlb(t, "list"))[bad.host.Addr.String()+":80"]; w != "0" {
		t.Errorf("xlb list shows weight %q for the failed real, want 0:\n%s", w, x.xlb(t, "list"))
	}

	// A reload of the same file keeps it down: no flap.
	x.rewrite(t, conf)
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, x, "configuration reloaded", 1, 5*time.Second)
	onlyFrom(t, "after a reload", getMany(t, topo.Client, url, 6), good.host.Name, 6)
	if n := strings.Count(x.Log(), lineOf(bad, "up")); n != 0 {
		t.Errorf("the reload brought the failed real up (%d up lines):\n%s", n, x.Log())
	}

	// It answers 200 again: new connections again.
	bad.status.Store(200)
	waitLogCount(t, x, lineOf(bad, "up: check succeeded; weight 0 -> 1"), 1, cycle)
	checkEvenSpread(t, getMany(t, topo.Client, url, 10), topo.Reals[:2], 10, 1)

	// Its server stops accepting: the same.
	bad.stopListening()
	waitLogCount(t, x, lineOf(bad, fmt.Sprintf("down: connect %s:80: connection refused; weight 1 -> 0", bad.host.Addr)), 1, cycle)
	onlyFrom(t, first+" stopped", getMany(t, topo.Client, url, 10), good.host.Name, 10)
	if got := long.ask(t); got != first {
		t.Errorf("with %s's listener closed the established connection was answered by %s", first, got)
	}
	bad.listen(t)
	waitLogCount(t, x, lineOf(bad, "up: check succeeded; weight 0 -> 1"), 2, cycle)
	checkEvenSpread(t, getMany(t, topo.Client, url, 10), topo.Reals[:2], 10, 1)

	// Both fail: the sorry server answers every request.
	bad.status.Store(500)
	good.status.Store(500)
	waitLogCount(t, x, lineOf(bad, "down: HTTP status 500"), 2, cycle)
	waitLogCount(t, x, lineOf(good, "down: HTTP status 500"), 1, cycle)
	waitLogCount(t, x, "quorum lost: new connections go to the sorry server", 1, cycle)
	onlyFrom(t, "both down", getMany(t, topo.Client, url, 10), sorry.Name, 10)
	if got := long.ask(t); got != first {
		t.Errorf("with both reals down the established connection was answered by %s", got)
	}

	// One returns: traffic returns to it.
	good.status.Store(200)
	waitLogCount(t, x, lineOf(good, "up: check succeeded; weight 0 -> 1"), 1, cycle)
	waitLogCount(t, x, "quorum gained", 1, cycle)
	onlyFrom(t, good.host.Name+" back", getMany(t, topo.Client, url, 10), good.host.Name, 10)

	// The scripts ran, in order per real and for the quorum.
	wantEvents := []string{first + " DOWN", "quorum DOWN", "quorum UP"}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := readFile(events)
		missing := ""
		for _, w := range wantEvents {
			if !strings.Contains(got, w+"\n") {
				missing = w
			}
		}
		if missing == "" {
			if n := strings.Count(got, first+" DOWN\n"); n != 3 {
				t.Errorf("notify_down of %s ran %d times, want 3 (500, stopped, both down):\n%s", first, n, got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scripts did not write %q; they wrote:\n%s", missing, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MISC_CHECK with misc_dynamic sets the real's weight from the exit status;
// exit 1 takes it out; omega runs notify_down of the reals still up when
// xlbd stops.
func TestIntegrationHealthMiscDynamic(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	serveHTTP(t, topo)
	dir := t.TempDir()
	status, events := filepath.Join(dir, "status"), filepath.Join(dir, "events")
	if err := os.WriteFile(status, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	r1, r2 := topo.Reals[0], topo.Reals[1]
	conf := fmt.Sprintf(`virtual_server 198.18.0.100 80 {
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    omega
    real_server %[1]s 80 {
        weight 1
        notify_down "/bin/sh -c 'echo %[3]s $XLB_STATE >> %[6]s'"
        MISC_CHECK {
            misc_path "/bin/sh -c 'exit $(cat %[5]s)'"
            misc_timeout 2
            misc_dynamic
            delay_loop 0.3
            warmup 0
        }
    }
    real_server %[2]s 80 {
        weight 1
        notify_down "/bin/sh -c 'echo %[4]s $XLB_STATE >> %[6]s'"
    }
}
`, r1.Addr, r2.Addr, r1.Name, r2.Name, status, events)
	x := startXlbd(t, topo, conf)
	url := "http://" + vipHTTP + "/"
	checkEvenSpread(t, getMany(t, topo.Client, url, 10), topo.Reals, 10, 1)

	line := fmt.Sprintf("real %s:80 of VS %s ", r1.Addr, vipHTTP)
	os.WriteFile(status, []byte("5"), 0o644) // up, weight 3
	waitLogCount(t, x, line+"weight 1 -> 3 (misc_dynamic)", 1, 10*time.Second)
	seen := getMany(t, topo.Client, url, 40)
	if seen[r1.Name] < 29 || seen[r1.Name] > 31 || seen[r1.Name]+seen[r2.Name] != 40 {
		t.Errorf("wrr with weights 3:1 over 40 connections answered %v, want about %s=30 %s=10", seen, r1.Name, r2.Name)
	}
	if w := listedWeights(x.xlb(t, "list"))[r1.Addr.String()+":80"]; w != "3" {
		t.Errorf("xlb list shows weight %q for %s, want 3", w, r1.Name)
	}

	os.WriteFile(status, []byte("1"), 0o644) // down
	waitLogCount(t, x, line+"down: /bin/sh exited with status 1; removed from the pool (weight was 3)", 1, 10*time.Second)
	onlyFrom(t, r1.Name+" down", getMany(t, topo.Client, url, 6), r2.Name, 6)
	if _, ok := listedWeights(x.xlb(t, "list"))[r1.Addr.String()+":80"]; ok {
		t.Errorf("xlb list still shows %s, removed without inhibit_on_failure:\n%s", r1.Name, x.xlb(t, "list"))
	}

	os.WriteFile(status, []byte("2"), 0o644) // up with weight 0: quiescent
	waitLogCount(t, x, line+"up: check succeeded; back in the pool with weight 0", 1, 10*time.Second)
	onlyFrom(t, r1.Name+" up with weight 0", getMany(t, topo.Client, url, 6), r2.Name, 6)

	// omega: at stop notify_down runs for the reals that are up: both.
	if err := x.Stop(5 * time.Second); err != nil {
		t.Fatalf("xlbd stop: %v\n%s", err, x.Log())
	}
	got := readFile(events)
	if strings.Count(got, r1.Name+" DOWN\n") != 2 || strings.Count(got, r2.Name+" DOWN\n") != 1 {
		t.Errorf("notify_down wrote %q, want %s DOWN twice (exit 1, omega) and %s DOWN once (omega)", got, r1.Name, r2.Name)
	}
}

// The SSL block gives SSL_GET its client certificate (with a key encrypted
// by password) and, with ca, verification of the server.
func TestHealthSSLBlock(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "xlb-director"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1019 the legacy encrypted PEM form is what the test needs
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", keyDER, []byte("secret"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(enc), 0o600)

	// A TLS server that wants a client certificate and serves with the same
	// (self-signed) one, so the same file is the CA.
	pair, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	var clientCN atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			clientCN.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		fmt.Fprintln(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())

	for _, tc := range []struct {
		desc, ssl string
		wantErr   string
		verify    bool
	}{
		{desc: "client certificate with an encrypted key", ssl: fmt.Sprintf("certificate %s\n key %s\n password secret", certFile, keyFile)},
		{desc: "and a ca: the server is verified", ssl: fmt.Sprintf("certificate %s\n key %s\n password secret\n ca %s", certFile, keyFile, certFile), verify: true},
		{desc: "wrong password", ssl: fmt.Sprintf("certificate %s\n key %s\n password nope", certFile, keyFile), wantErr: "decrypt key"},
		{desc: "missing certificate file", ssl: fmt.Sprintf("certificate %s\n key %s", filepath.Join(dir, "absent.pem"), keyFile), wantErr: "absent.pem"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			conf := fmt.Sprintf("SSL {\n %s\n}\nvirtual_server 127.0.0.1 443 {\n real_server %s %d {\n SSL_GET {\n url {\n path /\n }\n }\n }\n}\n", tc.ssl, addr.Addr(), addr.Port())
			cfg, err := config.Parse("s.conf", []byte(conf))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			tlsCfg, err := sslConfig(cfg.SSL)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("sslConfig: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tlsCfg.InsecureSkipVerify == tc.verify {
				t.Errorf("InsecureSkipVerify %v, want %v", tlsCfg.InsecureSkipVerify, !tc.verify)
			}
			vs := cfg.VirtualServers[0]
			ref := control.RealRef{Service: loader.Endpoint{Addr: vs.Addr, Port: vs.Port, Proto: loader.ProtoTCP}, Real: vs.Reals[0].AddrPort()}
			chk, _, err := newChecker(ref.String(), vs.Reals[0].Checks[0], &healthConf{}, tlsCfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			clientCN.Store("")
			ctx, cancel := health.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := chk.Check(ctx); err != nil {
				t.Fatalf("SSL_GET against a server that wants a client certificate: %v", err)
			}
			if got := clientCN.Load(); got != "xlb-director" {
				t.Errorf("the server saw client certificate %q, want xlb-director", got)
			}
		})
	}
}

// A virtual_server group checks each real once for all its addresses, and
// the result applies to the real of every address.
func TestHealthGroupCheckedOnce(t *testing.T) {
	srv := newSwitchServer(t, "a")
	var hits atomic.Int32
	counting := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(int(srv.status.Load()))
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go counting.Serve(l)
	defer counting.Close()
	port := netip.MustParseAddrPort(l.Addr().String()).Port()

	events := filepath.Join(t.TempDir(), "events")
	conf := fmt.Sprintf(`virtual_server_group web {
    127.0.0.10 80
    127.0.0.11 80
    127.0.0.12 80
}
virtual_server group web {
    lvs_sched rr
    omega
    real_server 127.0.0.1 %d {
        weight 1
        inhibit_on_failure
        notify_up "/bin/sh -c 'echo $XLB_STATE $XLB_TARGET >> %[2]s'"
        notify_down "/bin/sh -c 'echo $XLB_STATE $XLB_TARGET >> %[2]s'"
        HTTP_GET {
            url {
                path /health.cgi
            }
            delay_loop 0.2
            warmup 0
            retry 0
            connect_timeout 1
        }
    }
}
`, port, events)
	cfg, st := parseDesired(t, conf)
	rec := &recorder{}
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(rec.apply, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	h := sub.(*healthChecker)
	if n := len(h.byTarget); n != 1 {
		t.Errorf("%d checker targets for one real of a group of 3 addresses, want 1", n)
	}
	allWeights := func() string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var out []string
		for _, s := range rec.last.Services {
			for _, rl := range s.Reals {
				out = append(out, fmt.Sprintf("%s=%d", s.Endpoint.Addr, rl.Weight))
			}
		}
		return strings.Join(out, " ")
	}
	srv.status.Store(500)
	waitFor(t, "every address's real at weight 0", 5*time.Second, func() bool {
		return allWeights() == "127.0.0.10=0 127.0.0.11=0 127.0.0.12=0"
	}, &logs)
	for _, vip := range []string{"127.0.0.10", "127.0.0.11", "127.0.0.12"} {
		want := fmt.Sprintf("real 127.0.0.1:%d of VS %s:80 down: HTTP status 500, want 200-299; weight 1 -> 0", port, vip)
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// One check per cycle, not three: over ~1 s at delay_loop 0.2 about 5.
	start, checks := hits.Load(), h.mon.Stats().Checks
	time.Sleep(time.Second)
	if got, n := hits.Load()-start, h.mon.Stats().Checks-checks; got > 8 || n > 8 {
		t.Errorf("%d requests (%d checks) in 1s at delay_loop 0.2 for one real of a group, want about 5", got, n)
	}
	srv.status.Store(200)
	waitFor(t, "every address's real back", 5*time.Second, func() bool {
		return allWeights() == "127.0.0.10=1 127.0.0.11=1 127.0.0.12=1"
	}, &logs)

	// notify scripts run once per change of the real, not once per
	// address; omega's notify_down once at stop.
	sub.Stop()
	target := fmt.Sprintf("real 127.0.0.1:%d of group web", port)
	want := "DOWN " + target + "\nUP " + target + "\nDOWN " + target + "\n"
	if got := readFile(events); got != want {
		t.Errorf("notify scripts wrote %q, want %q", got, want)
	}
}

// enable_script_security refuses a script that a user other than root could
// change, with the position of the directive that names it.
func TestIntegrationScriptSecurity(t *testing.T) {
	testenv.RequirePrivileged(t) // files owned by root, and chowned away from it
	dir := t.TempDir()           // root's, 0700, under the sticky /tmp
	script := func(name string, mode os.FileMode, uid, gid int) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	groupDir := filepath.Join(dir, "group")
	if err := os.Mkdir(groupDir, 0o775); err != nil {
		t.Fatal(err)
	}
	os.Chmod(groupDir, 0o775)
	os.Chown(groupDir, 0, 65534)
	inGroupDir := filepath.Join(groupDir, "check.sh")
	os.WriteFile(inGroupDir, []byte("#!/bin/sh\n"), 0o755)

	for _, tc := range []struct {
		desc, cmd, wantErr string
	}{
		{desc: "a system program through the shell", cmd: "/bin/sh -c 'exit 0'"},
		{desc: "a program found on PATH", cmd: "true"},
		{desc: "root's script in root's directory", cmd: script("ok.sh", 0o755, 0, 0) + " arg"},
		{desc: "writable by everyone", cmd: script("open.sh", 0o777, 0, 0), wantErr: "open.sh is writable by every user"},
		{desc: "owned by another user", cmd: script("theirs.sh", 0o755, 65534, 65534), wantErr: "theirs.sh is owned by uid 65534"},
		{desc: "in a directory another group can write", cmd: inGroupDir, wantErr: "group is writable by group 65534"},
		{desc: "missing", cmd: filepath.Join(dir, "absent.sh"), wantErr: "no such file"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := scriptSecurity(tc.cmd)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("scriptSecurity(%q): %v, want nil", tc.cmd, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("scriptSecurity(%q): %v, want an error with %q", tc.cmd, err, tc.wantErr)
			}
		})
	}

	// Through the subsystem: the notify_up of a real is refused with its
	// position; without enable_script_security it is accepted.
	open := script("notify.sh", 0o777, 0, 0)
	for _, secure := range []bool{true, false} {
		conf := fmt.Sprintf("virtual_server 127.0.0.1 80 {\n    real_server 127.0.0.1 81 {\n        notify_up %s\n    }\n}\n", open)
		if secure {
			conf = "global_defs {\n    enable_script_security\n}\n" + conf
		}
		cfg, st := parseDesired(t, conf)
		director := control.NewDirector(func(*control.State) error { return nil }, nil)
		if err := director.SetConfig(cfg, st); err != nil {
			t.Fatal(err)
		}
		sub, err := startHealth(cfg, director, slog.New(slog.DiscardHandler))
		if !secure {
			if err != nil {
				t.Errorf("without enable_script_security: %v", err)
			} else {
				sub.Stop()
			}
			continue
		}
		if err == nil {
			sub.Stop()
			t.Fatal("enable_script_security accepted a script everyone can write")
		}
		if want := "h.conf:6:9: " + ErrInsecureScript.Error(); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want it to contain %q", err, want)
		}
	}
}

// alpha: the real takes no connection before its checker first passes, not
// even before the first check; a failing alpha real never joins.
func TestHealthAlpha(t *testing.T) {
	good, bad := newSwitchServer(t, "good"), newSwitchServer(t, "bad")
	bad.status.Store(500)
	conf := fmt.Sprintf(`virtual_server 127.0.0.1 80 {
    lvs_sched rr
    alpha
    delay_loop 0.1
    warmup 0
    real_server 127.0.0.1 %d {
        notify_up "/bin/true"
        HTTP_GET {
            url {
                path /health.cgi
            }
        }
    }
    real_server 127.0.0.1 %d {
        HTTP_GET {
            url {
                path /health.cgi
            }
        }
    }
}
`, good.addr.Port(), bad.addr.Port())
	cfg, st := parseDesired(t, conf)
	rec := &recorder{}
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(rec.apply, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	if got := rec.weights(); got != "" {
		t.Fatalf("before any check, with alpha, reals %q, want none", got)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	want := fmt.Sprintf("%d=1", good.addr.Port())
	waitFor(t, "the passing alpha real joins", 5*time.Second, func() bool { return rec.weights() == want }, &logs)
	// Several cycles later the failing one still has not joined.
	h := sub.(*healthChecker)
	checks := h.mon.Stats().Checks
	waitFor(t, "more checks", 5*time.Second, func() bool { return h.mon.Stats().Checks >= checks+6 }, &logs)
	if got := rec.weights(); got != want {
		t.Errorf("after more checks reals %q, want %q (the failing alpha real stays out)", got, want)
	}
	for _, line := range []string{
		fmt.Sprintf("real 127.0.0.1:%d of VS 127.0.0.1:80 starts down (alpha)", bad.addr.Port()),
		fmt.Sprintf("real 127.0.0.1:%d of VS 127.0.0.1:80 up: check succeeded; back in the pool with weight 1", good.addr.Port()),
	} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %q:\n%s", line, logs.String())
		}
	}
}

// Many reals failing at once reach the data plane in a few applies, not one
// per real, and check workers never wait for an apply.
func TestHealthMassFailureBatched(t *testing.T) {
	status, port := statusServer(t)

	const n = 200
	var b strings.Builder
	b.WriteString("virtual_server 127.0.0.1 80 {\n    lvs_sched rr\n    delay_loop 0.2\n    warmup 0\n    retry 0\n")
	for i := range n {
		// Each real is a port of its own; the checks all go to one server.
		fmt.Fprintf(&b, "    real_server 127.0.0.1 %d {\n        HTTP_GET {\n            url {\n                path /\n            }\n            connect_port %d\n        }\n    }\n", 10000+i, port)
	}
	b.WriteString("}\n")
	cfg, st := parseDesired(t, b.String())

	var (
		mu      sync.Mutex
		applies int
		reals   int
	)
	slowApply := func(s *control.State) error {
		time.Sleep(20 * time.Millisecond) // a data plane that takes its time
		mu.Lock()
		defer mu.Unlock()
		applies++
		reals = len(s.Services[0].Reals)
		return nil
	}
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(slowApply, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	mu.Lock()
	start := applies
	mu.Unlock()

	status.Store(500)
	// Each change is logged after it reached the data plane: wait for both.
	waitFor(t, "every real removed and logged", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return reals == 0 && strings.Count(logs.String(), "down: HTTP status 500") == n
	}, &logs)
	mu.Lock()
	got := applies - start
	mu.Unlock()
	if got >= n/2 {
		t.Errorf("%d reals failing together took %d applies, want a few batches", n, got)
	}
	if downs := strings.Count(logs.String(), "down: HTTP status 500"); downs != n {
		t.Errorf("%d down lines for %d reals", downs, n)
	}
	t.Logf("%d reals down in %d applies", n, got)
}

// ha_suspend: while the VIP is not on the director its checkers do not run
// (a failing real is not noticed); when the VIP comes back they run again.
func TestIntegrationHealthHASuspend(t *testing.T) {
	vip, other := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")
	topo := testenv.Start(t, testenv.Options{Reals: 1, VIPs: []netip.Addr{vip, other}})
	srv := newHealthServer(t, topo.Reals[0])
	real := topo.Reals[0].Addr
	conf := fmt.Sprintf(`virtual_server %[1]s 80 {
    lvs_sched rr
    ha_suspend
    delay_loop 0.2
    warmup 0
    real_server %[3]s 80 {
        HTTP_GET {
            url {
                path /health.cgi
            }
            retry 0
        }
    }
}
virtual_server %[2]s 80 {
    lvs_sched rr
    delay_loop 0.1
    warmup 0
    real_server %[3]s 80 {
        HTTP_GET {
            url {
                path /other.cgi
            }
        }
    }
}
`, vip, other, real)
	x := startXlbd(t, topo, conf)
	if err := x.WaitLog("health checking started", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := topo.Director.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	waitHits := func(c *atomic.Int64, n int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for c.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d checks, want %d; xlbd log:\n%s", c.Load(), n, x.Log())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitHits(&srv.healthHits, 2) // the ha_suspend VS is checked while its VIP is here

	ip("addr", "del", vip.String()+"/32", "dev", testenv.DirectorFrontIf)
	waitLogCount(t, x, "VS 198.18.0.100:80: the VIP is not on this director: its checkers are suspended (ha_suspend)", 1, 5*time.Second)
	srv.status.Store(500)
	// Let a check in flight finish, then watch the other VS's checker run
	// ten times: the suspended one does not run.
	waitHits(&srv.otherHits, srv.otherHits.Load()+2)
	before := srv.healthHits.Load()
	waitHits(&srv.otherHits, srv.otherHits.Load()+10)
	if got := srv.healthHits.Load() - before; got != 0 {
		t.Errorf("the suspended checker ran %d times while the VIP was away", got)
	}
	if strings.Contains(x.Log(), "down: HTTP status 500") {
		t.Errorf("a suspended checker marked its real down:\n%s", x.Log())
	}

	ip("addr", "add", vip.String()+"/32", "dev", testenv.DirectorFrontIf)
	waitLogCount(t, x, "VS 198.18.0.100:80: the VIP is on this director: its checkers run again (ha_suspend)", 1, 5*time.Second)
	waitLogCount(t, x, fmt.Sprintf("real %s:80 of VS %s:80 down: HTTP status 500, want 200-299", real, vip), 1, 5*time.Second)
}

// log_all_failures logs every failed check, also those that do not change
// the real's state (the retries).
func TestHealthLogAllFailures(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(l.Addr().String()).Port()
	l.Close() // nothing listens: connection refused
	conf := fmt.Sprintf(`virtual_server 127.0.0.1 80 {
    real_server 127.0.0.1 %d {
        TCP_CHECK {
            log_all_failures
            retry 2
            delay_before_retry 0.01
            delay_loop 0.05
            warmup 0
        }
    }
}
`, port)
	cfg, st := parseDesired(t, conf)
	var logs lockedLog
	log := slog.New(slog.NewTextHandler(&logs, nil))
	director := control.NewDirector(func(*control.State) error { return nil }, log)
	if err := director.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	sub, err := startHealth(cfg, director, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	ref := fmt.Sprintf("real 127.0.0.1:%d of VS 127.0.0.1:80", port)
	waitFor(t, "the real down", 5*time.Second, func() bool { return strings.Contains(logs.String(), ref+" down:") }, &logs)
	out := logs.String()
	before := out[:strings.Index(out, ref+" down:")]
	failed := fmt.Sprintf("%s: TCP_CHECK failed: connect 127.0.0.1:%d: connection refused", ref, port)
	if n := strings.Count(before, failed); n != 3 {
		t.Errorf("%d failure lines before the down line, want 3 (retry 2); log:\n%s", n, out)
	}
}

// A checker xlbd cannot run is a configuration error with its position:
// at start xlbd refuses before touching the system.
func TestHealthConfigErrorRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "xlb.conf")
	os.WriteFile(file, []byte(`virtual_server 198.18.0.100 80 {
    lvs_sched rr
    real_server 198.18.1.2 80 {
        TCP_CHECK {
            connect_timeout 0
        }
    }
}
`), 0o644)
	pinDir := filepath.Join(dir, "never-created")
	out, err := exec.Command(filepath.Join(binDir, "xlbd"), "-f", file, "--bpffs", pinDir).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("xlbd: %v, want exit status 1; output:\n%s", err, out)
	}
	want := file + ":4:9: real 198.18.1.2:80 of VS 198.18.0.100:80 TCP_CHECK: bad loop options: connect_timeout 0s must be above 0"
	if !strings.Contains(string(out), want) && !strings.Contains(string(out), file+":5:") {
		t.Errorf("xlbd output lacks %q (or a parser error at 5:):\n%s", want, out)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("xlbd created %s although it refused to start", pinDir)
	}
}

// A reload whose checkers cannot run is refused whole: the running
// configuration, data plane and checkers stay.
func TestIntegrationHealthBadReload(t *testing.T) {
	topo := testenv.Start(t, testenv.Options{Reals: 2})
	servers := []*healthServer{newHealthServer(t, topo.Reals[0]), newHealthServer(t, topo.Reals[1])}
	conf := func(timeout string) string {
		var b strings.Builder
		b.WriteString("virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    delay_loop 0.3\n    warmup 0\n")
		for _, s := range servers {
			fmt.Fprintf(&b, "    real_server %s 80 {\n        inhibit_on_failure\n        HTTP_GET {\n            url {\n                path /health.cgi\n            }\n            connect_timeout %s\n            retry 0\n        }\n    }\n", s.host.Addr, timeout)
		}
		b.WriteString("}\n")
		return b.String()
	}
	x := startXlbd(t, topo, conf("1"))
	url := "http://" + vipHTTP + "/"
	checkEvenSpread(t, getMany(t, topo.Client, url, 10), topo.Reals, 10, 1)

	// Only one real's block is wrong: nothing of the file is applied.
	bad := strings.Replace(conf("1"), "connect_timeout 1", "connect_timeout 0", 1)
	bad = strings.Replace(bad, "lvs_sched rr", "lvs_sched wrr", 1)
	x.rewrite(t, bad)
	if err := x.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, x, "configuration not reloaded", 1, 5*time.Second)
	if want := "connect_timeout 0s must be above 0"; !strings.Contains(x.Log(), want) && !strings.Contains(x.Log(), "invalid connect_timeout") {
		t.Errorf("the reload error does not say what is wrong:\n%s", x.Log())
	}
	if strings.Contains(x.xlb(t, "list"), " wrr") {
		t.Errorf("the refused file's lvs_sched wrr reached the data plane:\n%s", x.xlb(t, "list"))
	}
	// The checkers run on: a failing real still goes down.
	servers[0].status.Store(500)
	waitLogCount(t, x, fmt.Sprintf("real %s:80 of VS %s down: HTTP status 500", servers[0].host.Addr, vipHTTP), 1, 10*time.Second)
	onlyFrom(t, "after the refused reload", getMany(t, topo.Client, url, 6), servers[1].host.Name, 6)
}
