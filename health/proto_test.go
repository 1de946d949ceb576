package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestTCPCheck(t *testing.T) {
	open := rawServer(t, "tcp", func(net.Conn) {})
	tests := []struct {
		desc string
		ep   Endpoint
		want string
	}{
		{desc: "IPv6 refused", ep: Endpoint{Addr: netip.MustParseAddrPort("[::1]:1")}, want: "connect [::1]:1: connection refused"},
		{desc: "listening", ep: Endpoint{Addr: open}},
		{desc: "bindto", ep: Endpoint{Addr: open, BindTo: netip.MustParseAddr("127.0.0.2")}},
		{desc: "refused", ep: Endpoint{Addr: closedPort(t)}, want: "connect 127.0.0.1:*: connection refused"},
		{desc: "no address", want: "connect: no address"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := (&TCPCheck{Endpoint: tt.ep}).Check(ctx)
			assertReason(t, err, tt.want)
		})
	}
}

// smtpServer answers with the given greeting and HELO reply lines and
// records the HELO line it received.
func smtpServer(t *testing.T, greeting, heloReply string) (netip.AddrPort, func() string) {
	t.Helper()
	var (
		mu   sync.Mutex
		helo string
	)
	ap := rawServer(t, "tcp", func(c net.Conn) {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		fmt.Fprint(c, greeting)
		r := bufio.NewReader(c)
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		mu.Lock()
		helo = strings.TrimSpace(line)
		mu.Unlock()
		fmt.Fprint(c, heloReply)
		if line, _ := r.ReadString('\n'); strings.TrimSpace(line) == "QUIT" {
			fmt.Fprint(c, "221 bye\r\n")
		}
	})
	return ap, func() string { mu.Lock(); defer mu.Unlock(); return helo }
}

func TestSMTPCheck(t *testing.T) {
	good, gotHelo := smtpServer(t, "220-mx.example.com ESMTP\r\n220 ready\r\n", "250 mx.example.com\r\n")
	busy, _ := smtpServer(t, "554 no service\r\n", "")
	badHelo, _ := smtpServer(t, "220 ready\r\n", "500 syntax error\r\n")
	closing := rawServer(t, "tcp", func(net.Conn) {})
	tests := []struct {
		desc string
		addr netip.AddrPort
		want string
	}{
		{desc: "220 then 250", addr: good},
		{desc: "554 greeting", addr: busy, want: "read SMTP greeting: SMTP reply 554 no service, want 220"},
		{desc: "500 to HELO", addr: badHelo, want: "read HELO reply: SMTP reply 500 syntax error, want 250"},
		{desc: "hanging", addr: hangingServer(t), want: "read SMTP greeting: timeout after 100ms"},
		{desc: "closes at once", addr: closing, want: "read SMTP greeting: connection closed by server"},
		{desc: "refused", addr: closedPort(t), want: "connect 127.0.0.1:*: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := (&SMTPCheck{Endpoint: Endpoint{Addr: tt.addr}, HeloName: "lb1.example.com"}).Check(ctx)
			assertReason(t, err, tt.want)
		})
	}
	if h := gotHelo(); h != "HELO lb1.example.com" {
		t.Errorf("server got %q, want HELO lb1.example.com", h)
	}
}

// dnsServer answers queries on a loopback UDP socket: mode "ok" with
// NOERROR, "nxdomain", "wrongid" (a reply with another id first, then the
// right one), "silent" (never answers). It records the last question.
func dnsServer(t *testing.T, mode string) (netip.AddrPort, func() dnsmessage.Question) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		last dnsmessage.Question
		wg   sync.WaitGroup
	)
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			mu.Lock()
			last = q
			mu.Unlock()
			reply := func(id uint16, rc dnsmessage.RCode) {
				b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true, RCode: rc, RecursionDesired: h.RecursionDesired})
				b.StartQuestions()
				b.Question(q)
				if rc == dnsmessage.RCodeSuccess && q.Type == dnsmessage.TypeA {
					b.StartAnswers()
					b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
						dnsmessage.AResource{A: [4]byte{198, 18, 1, 2}})
				}
				msg, err := b.Finish()
				if err != nil {
					t.Errorf("build reply: %v", err)
					return
				}
				pc.WriteTo(msg, from)
			}
			switch mode {
			case "ok":
				reply(h.ID, dnsmessage.RCodeSuccess)
			case "nxdomain":
				reply(h.ID, dnsmessage.RCodeNameError)
			case "wrongid":
				reply(h.ID+1, dnsmessage.RCodeServerFailure)
				reply(h.ID, dnsmessage.RCodeSuccess)
			}
		}
	}()
	return addrOf(t, pc.LocalAddr()), func() dnsmessage.Question { mu.Lock(); defer mu.Unlock(); return last }
}

func TestDNSCheck(t *testing.T) {
	ok, lastQ := dnsServer(t, "ok")
	nx, _ := dnsServer(t, "nxdomain")
	wrongID, _ := dnsServer(t, "wrongid")
	silent, _ := dnsServer(t, "silent")
	tests := []struct {
		desc  string
		check DNSCheck
		wantQ string
		want  string
	}{
		{desc: "default SOA .", check: DNSCheck{Endpoint: Endpoint{Addr: ok}}, wantQ: ". TypeSOA"},
		{desc: "A www", check: DNSCheck{Endpoint: Endpoint{Addr: ok}, Type: dnsmessage.TypeA, Name: "www.example.com"}, wantQ: "www.example.com. TypeA"},
		{desc: "NXDOMAIN", check: DNSCheck{Endpoint: Endpoint{Addr: nx}, Name: "nope.example."}, want: "DNS reply NXDOMAIN"},
		{desc: "skips a reply with another id", check: DNSCheck{Endpoint: Endpoint{Addr: wrongID}}},
		{desc: "no reply", check: DNSCheck{Endpoint: Endpoint{Addr: silent}}, want: "read DNS reply: timeout after 100ms"},
		{desc: "port unreachable", check: DNSCheck{Endpoint: Endpoint{Addr: closedUDPPort(t)}}, want: "read DNS reply: connection refused"},
		{desc: "bad name", check: DNSCheck{Endpoint: Endpoint{Addr: ok}, Name: strings.Repeat("a", 300)}, want: "build DNS query: *"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ctx, cancel := WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_, err := tt.check.Check(ctx)
			assertReason(t, err, tt.want)
			if tt.wantQ != "" {
				q := lastQ()
				if got := q.Name.String() + " " + q.Type.String(); got != tt.wantQ {
					t.Errorf("server saw question %q, want %q", got, tt.wantQ)
				}
			}
		})
	}
}

func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrOf(t, pc.LocalAddr())
	pc.Close()
	return ap
}

func TestParseDNSType(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want dnsmessage.Type
		err  bool
	}{{"A", dnsmessage.TypeA, false}, {"aaaa", dnsmessage.TypeAAAA, false}, {"MX", dnsmessage.TypeMX, false},
		{"SOA", dnsmessage.TypeSOA, false}, {"TXT", dnsmessage.TypeTXT, false}, {"NS", dnsmessage.TypeNS, false}, {"AXFR", 0, true}} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDNSType(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("ParseDNSType(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}
