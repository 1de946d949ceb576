package health

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

func httpMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello world") })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) })
	mux.HandleFunc("/301", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", 301) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		fmt.Fprint(w, "late")
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := strings.Repeat("x", 64<<10)
		for range 32 { // 2 MiB
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		sni := ""
		if r.TLS != nil {
			sni = r.TLS.ServerName
		}
		fmt.Fprintf(w, "proto=%s host=%s conn=%s sni=%s", r.Proto, r.Host, r.Header.Get("Connection"), sni)
	})
	return mux
}

func md5hex(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestHTTPGet(t *testing.T) {
	srv := httptest.NewServer(httpMux())
	defer srv.Close()
	addr := addrOf(t, srv.Listener.Addr())
	ep := Endpoint{Addr: addr}
	tests := []struct {
		desc    string
		check   HTTPGet
		timeout time.Duration
		want    string // "" = up, else the exact reason or a prefix ending in "*"
	}{
		{desc: "200 default codes", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok"}}}},
		{desc: "no url checks /", check: HTTPGet{Endpoint: ep}, want: "HTTP status 404, want 200-299"},
		{desc: "500 wrong status", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/500"}}}, want: "HTTP status 500, want 200-299"},
		{desc: "500 accepted by range", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/500", StatusCodes: []StatusRange{{200, 200}, {500, 599}}}}}},
		{desc: "301 not followed", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/301", StatusCodes: []StatusRange{{200, 200}}}}}, want: "HTTP status 301, want 200"},
		{desc: "digest matches", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok", Digest: strings.ToUpper(md5hex("hello world"))}}}},
		{desc: "wrong body digest", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok", Digest: md5hex("hello")}}},
			want: fmt.Sprintf("MD5 digest %s, want %s", md5hex("hello world"), md5hex("hello"))},
		{desc: "regex matches", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok", Regex: regexp.MustCompile(`wor.d$`)}}}},
		{desc: "wrong body regex", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok", Regex: regexp.MustCompile(`^bye`)}}},
			want: `body does not match regex "^bye"`},
		{desc: "regex_no_match", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok", Regex: regexp.MustCompile(`hello`), RegexNoMatch: true}}},
			want: `body matches regex "hello"`},
		{desc: "all urls must pass", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/ok"}, {Path: "/500"}}},
			want: "GET /500: HTTP status 500, want 200-299"},
		{desc: "oversized body", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/big"}}, MaxBodySize: 100 << 10},
			want: "read HTTP body: body too large (over 102400 bytes)"},
		{desc: "big body under the default cap... is over 1 MiB", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/big"}}},
			want: "read HTTP body: body too large (over 1048576 bytes)"},
		{desc: "slow server within timeout", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/slow"}}}, timeout: time.Second},
		{desc: "slow server past timeout", check: HTTPGet{Endpoint: ep, URLs: []URL{{Path: "/slow"}}}, timeout: 50 * time.Millisecond,
			want: "read HTTP response: timeout after 50ms"},
		{desc: "hanging server", check: HTTPGet{Endpoint: Endpoint{Addr: hangingServer(t)}, URLs: []URL{{Path: "/"}}}, timeout: 80 * time.Millisecond,
			want: "read HTTP response: timeout after 80ms"},
		{desc: "resetting server", check: HTTPGet{Endpoint: Endpoint{Addr: resettingServer(t)}},
			want: "read HTTP response: connection reset by peer"},
		{desc: "refused", check: HTTPGet{Endpoint: Endpoint{Addr: closedPort(t)}}, want: "connect 127.0.0.1:*: connection refused"},
		{desc: "bindto source", check: HTTPGet{Endpoint: Endpoint{Addr: addr, BindTo: netip.MustParseAddr("127.0.0.1")}, URLs: []URL{{Path: "/ok"}}}},
		{desc: "bad bindto", check: HTTPGet{Endpoint: Endpoint{Addr: addr, BindTo: netip.MustParseAddr("198.18.0.1")}},
			want: "connect 127.0.0.1:*: cannot assign requested address"},
		{desc: "unknown protocol", check: HTTPGet{Endpoint: ep, Protocol: "2"}, want: `build HTTP request: unknown http_protocol "2"`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			ctx, cancel := WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			_, err := tt.check.Check(ctx)
			assertReason(t, err, tt.want)
			if el := time.Since(start); el > timeout+500*time.Millisecond {
				t.Errorf("check took %v, past its %v budget", el, timeout)
			}
		})
	}
}

// assertReason checks err's text: want "" means nil, a trailing "*" a prefix
// match on the part before the "*" plus the part after it as suffix.
func assertReason(t *testing.T, err error, want string) {
	t.Helper()
	got := ""
	if err != nil {
		got = err.Error()
	}
	if pre, suf, wild := strings.Cut(want, "*"); wild {
		if !strings.HasPrefix(got, pre) || !strings.HasSuffix(got, suf) || got == "" {
			t.Errorf("reason %q, want %q", got, want)
		}
		return
	}
	if got != want {
		t.Errorf("reason %q, want %q", got, want)
	}
}

func TestHTTPGetRequestForms(t *testing.T) {
	srv := httptest.NewServer(httpMux())
	defer srv.Close()
	addr := addrOf(t, srv.Listener.Addr())
	tests := []struct {
		desc  string
		proto HTTPProtocol
		vhost string
		body  string
	}{
		{"1.0 default host", "", "", fmt.Sprintf("proto=HTTP/1.0 host=%s conn= sni=", addr)},
		{"1.0C", HTTP10Close, "www.example.com", "proto=HTTP/1.0 host=www.example.com conn=close sni="},
		{"1.1", HTTP11, "www.example.com", "proto=HTTP/1.1 host=www.example.com conn=close sni="},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			// The body digest proves what the server saw.
			h := HTTPGet{Endpoint: Endpoint{Addr: addr}, Protocol: tt.proto, VirtualHost: tt.vhost,
				URLs: []URL{{Path: "/echo", Digest: md5hex(tt.body)}}}
			ctx, cancel := WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := h.Check(ctx); err != nil {
				t.Errorf("server did not see %q: %v", tt.body, err)
			}
		})
	}
}

func TestSSLGet(t *testing.T) {
	srv := httptest.NewUnstartedServer(httpMux())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := addrOf(t, srv.Listener.Addr())
	tests := []struct {
		desc    string
		check   SSLGet
		timeout time.Duration
		want    string
	}{
		{desc: "200", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: addr}, URLs: []URL{{Path: "/ok", Digest: md5hex("hello world")}}}}},
		{desc: "virtualhost is SNI and Host", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: addr}, VirtualHost: "www.example.com", Protocol: HTTP11,
			URLs: []URL{{Path: "/echo", Regex: regexp.MustCompile(`^proto=HTTP/1.1 host=www.example.com conn=close sni=www.example.com$`)}}}}},
		{desc: "500", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: addr}, URLs: []URL{{Path: "/500"}}}}, want: "HTTP status 500, want 200-299"},
		{desc: "verification on, unknown CA", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: addr}}, TLSConfig: &tls.Config{ServerName: "example.com"}},
			want: "TLS handshake: tls: failed to verify certificate: *"},
		{desc: "plain HTTP server", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: addrOf(t, plainServer(t))}}}, want: "TLS handshake: *"},
		{desc: "hanging server", check: SSLGet{HTTPGet: HTTPGet{Endpoint: Endpoint{Addr: hangingServer(t)}}}, timeout: 100 * time.Millisecond,
			want: "TLS handshake: timeout after 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := tt.check.Check(ctx)
			assertReason(t, err, tt.want)
		})
	}
}

func plainServer(t *testing.T) net.Addr {
	srv := httptest.NewServer(httpMux())
	t.Cleanup(srv.Close)
	return srv.Listener.Addr()
}

func TestParseStatusRanges(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  bool
	}{
		{in: "200", want: "200"},
		{in: "200 301-302 500-599", want: "200,301-302,500-599"},
		{in: "2xx", err: true},
		{in: "302-301", err: true},
		{in: "99", err: true},
		{in: "200-600", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseStatusRanges(strings.Fields(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("ParseStatusRanges(%q) error %v, want error %v", tt.in, err, tt.err)
			}
			if err == nil && rangesString(got) != tt.want {
				t.Errorf("ParseStatusRanges(%q) = %s, want %s", tt.in, rangesString(got), tt.want)
			}
		})
	}
}

func TestHTTPGetRequestBytes(t *testing.T) {
	tests := []struct {
		desc  string
		addr  string
		proto HTTPProtocol
		vhost string
		url   URL
		want  string
	}{
		{desc: "1.0 port 80 host is the address", addr: "198.18.1.2:80", url: URL{Path: "/health"},
			want: "GET /health HTTP/1.0\r\nUser-Agent: xlb-health\r\nHost: 198.18.1.2\r\n\r\n"},
		{desc: "IPv6 other port", addr: "[2001:db8::2]:8080",
			want: "GET / HTTP/1.0\r\nUser-Agent: xlb-health\r\nHost: [2001:db8::2]:8080\r\n\r\n"},
		{desc: "IPv6 port 443", addr: "[2001:db8::2]:443", proto: HTTP11,
			want: "GET / HTTP/1.1\r\nConnection: close\r\nUser-Agent: xlb-health\r\nHost: [2001:db8::2]\r\n\r\n"},
		{desc: "1.0C virtualhost, url overrides", addr: "198.18.1.2:80", proto: HTTP10Close, vhost: "a.example", url: URL{Path: "/x?y=1", VirtualHost: "b.example"},
			want: "GET /x?y=1 HTTP/1.0\r\nConnection: close\r\nUser-Agent: xlb-health\r\nHost: b.example\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			h := HTTPGet{Endpoint: Endpoint{Addr: netip.MustParseAddrPort(tt.addr)}, Protocol: tt.proto, VirtualHost: tt.vhost}
			got, err := h.request(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("request\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
