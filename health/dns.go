package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// DNSCheck is keepalived's DNS_CHECK: it sends one query over UDP and the
// server is up when a reply with the query's id and RCODE NOERROR arrives.
type DNSCheck struct {
	Endpoint
	// Type is the query type (type); default SOA.
	Type dnsmessage.Type
	// Name is the query name (name); default ".".
	Name string
}

// dnsTypes are the type names DNS_CHECK accepts.
var dnsTypes = map[string]dnsmessage.Type{
	"A": dnsmessage.TypeA, "NS": dnsmessage.TypeNS, "CNAME": dnsmessage.TypeCNAME,
	"SOA": dnsmessage.TypeSOA, "PTR": dnsmessage.TypePTR, "MX": dnsmessage.TypeMX,
	"TXT": dnsmessage.TypeTXT, "AAAA": dnsmessage.TypeAAAA, "SRV": dnsmessage.TypeSRV,
}

// ParseDNSType parses a DNS_CHECK type name (A, NS, CNAME, SOA, PTR, MX,
// TXT, AAAA, SRV), in any case.
func ParseDNSType(s string) (dnsmessage.Type, error) {
	t, ok := dnsTypes[strings.ToUpper(s)]
	if !ok {
		return 0, fmt.Errorf("parse DNS type %q: unknown type", s)
	}
	return t, nil
}

var rcodeNames = map[dnsmessage.RCode]string{
	dnsmessage.RCodeSuccess: "NOERROR", dnsmessage.RCodeFormatError: "FORMERR",
	dnsmessage.RCodeServerFailure: "SERVFAIL", dnsmessage.RCodeNameError: "NXDOMAIN",
	dnsmessage.RCodeNotImplemented: "NOTIMP", dnsmessage.RCodeRefused: "REFUSED",
}

func rcodeName(rc dnsmessage.RCode) string {
	if s, ok := rcodeNames[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// maxDNSReplies bounds the datagrams read while waiting for the reply.
const maxDNSReplies = 16

// Check implements Checker.
func (c *DNSCheck) Check(ctx context.Context) (Result, error) {
	start := time.Now()
	name := c.Name
	if name == "" {
		name = "."
	}
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return Result{}, fmt.Errorf("build DNS query: %w", err)
	}
	qtype := c.Type
	if qtype == 0 {
		qtype = dnsmessage.TypeSOA
	}
	q := dnsmessage.Question{Name: qname, Type: qtype, Class: dnsmessage.ClassINET}
	id := uint16(rand.Uint32())
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{q},
	}
	query, err := msg.Pack()
	if err != nil {
		return Result{}, fmt.Errorf("build DNS query: %w", err)
	}

	conn, err := c.dial(ctx, "udp", start)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(query); err != nil {
		return Result{}, fmt.Errorf("send DNS query: %w", cause(ctx, start, err))
	}
	buf := make([]byte, 4096)
	for range maxDNSReplies {
		n, err := conn.Read(buf)
		if err != nil {
			return Result{}, fmt.Errorf("read DNS reply: %w", cause(ctx, start, err))
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id || !h.Response {
			continue // not our reply
		}
		got, err := p.Question()
		switch {
		case errors.Is(err, dnsmessage.ErrSectionDone): // no question echoed
		case err != nil:
			continue // malformed
		case got.Type != q.Type || !strings.EqualFold(got.Name.String(), q.Name.String()):
			continue // an answer to some other question
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return Result{}, fmt.Errorf("DNS reply %s", rcodeName(h.RCode))
		}
		return Result{}, nil
	}
	return Result{}, fmt.Errorf("read DNS reply: no reply to query id %d in %d datagrams", id, maxDNSReplies)
}
