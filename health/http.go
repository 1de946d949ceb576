package health

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// HTTPProtocol is keepalived's http_protocol.
type HTTPProtocol string

// The request forms keepalived knows.
const (
	HTTP10      HTTPProtocol = "1.0"  // GET ... HTTP/1.0 (the default)
	HTTP10Close HTTPProtocol = "1.0C" // HTTP/1.0 with "Connection: close"
	HTTP11      HTTPProtocol = "1.1"  // HTTP/1.1 with "Connection: close"
)

// DefaultMaxBodySize is the body size cap when HTTPGet.MaxBodySize is 0.
const DefaultMaxBodySize = 1 << 20

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// ParseStatusRanges parses the arguments of status_code: codes and ranges
// such as "200", "301-302".
func ParseStatusRanges(fields []string) ([]StatusRange, error) {
	var out []StatusRange
	for _, f := range fields {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parse status code %q: %w", f, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parse status code %q: %w", f, err)
			}
		}
		if a < 100 || b > 599 || a > b {
			return nil, fmt.Errorf("parse status code %q: want 100-599, low to high", f)
		}
		out = append(out, StatusRange{a, b})
	}
	return out, nil
}

// URL is one url block of HTTP_GET / SSL_GET. A check passes when every
// URL of the checker passes.
type URL struct {
	// Path is the request target, "/" when empty.
	Path string
	// StatusCodes are the accepted codes (status_code); default 200-299.
	StatusCodes []StatusRange
	// Digest, when set, is the hex MD5 of the body the server must send.
	Digest string
	// Regex, when set, must match the body (regex).
	Regex *regexp.Regexp
	// RegexNoMatch inverts Regex: the body must not match
	// (regex_no_match).
	RegexNoMatch bool
	// VirtualHost overrides the checker's VirtualHost for this URL.
	VirtualHost string
}

// HTTPGet is keepalived's HTTP_GET: it sends one GET per URL on its own
// connection and checks the status, the body's MD5 digest and a regex.
type HTTPGet struct {
	Endpoint
	URLs []URL
	// VirtualHost is the Host header (and TLS server name for SSL_GET);
	// default the address.
	VirtualHost string
	// Protocol is http_protocol, default HTTP10.
	Protocol HTTPProtocol
	// MaxBodySize stops reading a body longer than this many bytes and
	// fails the check (default DefaultMaxBodySize).
	MaxBodySize int64
}

// Check implements Checker.
func (h *HTTPGet) Check(ctx context.Context) (Result, error) {
	return Result{}, h.check(ctx, nil)
}

// SSLGet is keepalived's SSL_GET: HTTPGet over TLS. The server's certificate
// is not verified unless TLSConfig says so, as in keepalived; the TLS server
// name (SNI) is the virtualhost.
type SSLGet struct {
	HTTPGet
	// TLSConfig, when set, is cloned for each check (client certificate,
	// RootCAs with InsecureSkipVerify false to verify).
	TLSConfig *tls.Config
}

// Check implements Checker.
func (s *SSLGet) Check(ctx context.Context) (Result, error) {
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // keepalived does not verify by default
	if s.TLSConfig != nil {
		cfg = s.TLSConfig.Clone()
	}
	return Result{}, s.check(ctx, cfg)
}

func (h *HTTPGet) check(ctx context.Context, tlsCfg *tls.Config) error {
	start := time.Now()
	urls := h.URLs
	if len(urls) == 0 {
		urls = []URL{{Path: "/"}}
	}
	for _, u := range urls {
		if err := h.get(ctx, start, tlsCfg, u); err != nil {
			if len(urls) > 1 {
				return fmt.Errorf("GET %s: %w", u.path(), err)
			}
			return err
		}
	}
	return nil
}

func (u URL) path() string {
	if u.Path == "" {
		return "/"
	}
	return u.Path
}

func (h *HTTPGet) host(u URL) string {
	switch {
	case u.VirtualHost != "":
		return u.VirtualHost
	case h.VirtualHost != "":
		return h.VirtualHost
	}
	if p := h.Addr.Port(); p != 80 && p != 443 {
		return h.Addr.String()
	}
	if h.Addr.Addr().Is6() && !h.Addr.Addr().Is4In6() {
		return "[" + h.Addr.Addr().String() + "]"
	}
	return h.Addr.Addr().String()
}

// request is the bytes sent for u, keepalived style.
func (h *HTTPGet) request(u URL) (string, error) {
	var b strings.Builder
	switch h.Protocol {
	case "", HTTP10:
		fmt.Fprintf(&b, "GET %s HTTP/1.0\r\n", u.path())
	case HTTP10Close:
		fmt.Fprintf(&b, "GET %s HTTP/1.0\r\nConnection: close\r\n", u.path())
	case HTTP11:
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nConnection: close\r\n", u.path())
	default:
		return "", fmt.Errorf("build HTTP request: unknown http_protocol %q", h.Protocol)
	}
	fmt.Fprintf(&b, "User-Agent: xlb-health\r\nHost: %s\r\n\r\n", h.host(u))
	return b.String(), nil
}

func (h *HTTPGet) get(ctx context.Context, start time.Time, tlsCfg *tls.Config, u URL) error {
	req, err := h.request(u)
	if err != nil {
		return err
	}
	conn, err := h.dial(ctx, "tcp", start)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if tlsCfg != nil {
		tlsCfg = tlsCfg.Clone() // ServerName may differ per URL
		if tlsCfg.ServerName == "" {
			if vh := h.host(u); net.ParseIP(strings.Trim(vh, "[]")) == nil {
				tlsCfg.ServerName, _, _ = strings.Cut(vh, ":")
			}
		}
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", cause(ctx, start, err))
		}
		conn = tc
	}
	if _, err := io.WriteString(conn, req); err != nil {
		return fmt.Errorf("send HTTP request: %w", cause(ctx, start, err))
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("read HTTP response: %w", cause(ctx, start, err))
	}
	defer resp.Body.Close()

	want := u.StatusCodes
	if len(want) == 0 {
		want = []StatusRange{{200, 299}}
	}
	if !statusIn(resp.StatusCode, want) {
		return fmt.Errorf("HTTP status %d, want %s", resp.StatusCode, rangesString(want))
	}

	max := h.MaxBodySize
	if max <= 0 {
		max = DefaultMaxBodySize
	}
	var (
		sum  hash.Hash
		body strings.Builder
		dst  []io.Writer
	)
	if u.Digest != "" {
		sum = md5.New()
		dst = append(dst, sum)
	}
	if u.Regex != nil {
		dst = append(dst, &body)
	}
	n, err := io.Copy(io.MultiWriter(dst...), io.LimitReader(resp.Body, max+1))
	if err != nil {
		return fmt.Errorf("read HTTP body: %w", cause(ctx, start, err))
	}
	if n > max {
		return fmt.Errorf("read HTTP body: %w (over %d bytes)", ErrBodyTooLarge, max)
	}
	if sum != nil {
		got := hex.EncodeToString(sum.Sum(nil))
		if !strings.EqualFold(got, u.Digest) {
			return fmt.Errorf("MD5 digest %s, want %s", got, strings.ToLower(u.Digest))
		}
	}
	if u.Regex != nil {
		if m := u.Regex.MatchString(body.String()); m == u.RegexNoMatch {
			if m {
				return fmt.Errorf("body matches regex %q", u.Regex)
			}
			return fmt.Errorf("body does not match regex %q", u.Regex)
		}
	}
	return nil
}

func statusIn(code int, rs []StatusRange) bool {
	for _, r := range rs {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

func rangesString(rs []StatusRange) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// errClosed is the reason when the server closes before answering.
var errClosed = errors.New("connection closed by server")
