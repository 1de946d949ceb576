package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xlbproject/xlb/control"
	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/health"
	"github.com/xlbproject/xlb/loader"
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
			desc:    "delay_loop 0 cannot be run: an error with the checker's position",
			conf:    vs("TCP_CHECK {\n delay_loop 0\n }"),
			wantErr: "h.conf:5:1: real 198.18.1.2:80 of VS 198.18.0.100:80 TCP_CHECK: bad loop options: delay_loop 0s must be above 0",
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
				t.Fatalf("parse: %v", err)
			}
			director := control.NewDirector(func(*control.State) error { return nil }, nil)
			h := &healthChecker{log: slog.New(slog.DiscardHandler), director: director,
				reals: map[control.RealRef]*realChecks{}, byTarget: map[string]*realChecks{},
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
			chk, opts, err := h.checker(ref, c, h.conf.Load(), mustSSL(t))
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
	st, err := control.Desired(cfg, control.Limits{MaxServices: 16, RingSize: 64, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, st
}
