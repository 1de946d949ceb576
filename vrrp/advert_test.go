package vrrp

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// refChecksum is an independent RFC 1071 implementation: a plain 64-bit sum
// of big-endian words, folded at the end.
func refChecksum(parts ...[]byte) uint16 {
	var all []byte
	for _, p := range parts {
		all = append(all, p...)
	}
	if len(all)%2 == 1 {
		all = append(all, 0)
	}
	var s uint64
	for i := 0; i < len(all); i += 2 {
		s += uint64(all[i])<<8 | uint64(all[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// withSum returns msg with the checksum at bytes 6..7 set to refChecksum of
// the pseudo-header (possibly empty) and msg.
func withSum(msg, pseudo []byte) []byte {
	out := bytes.Clone(msg)
	c := refChecksum(pseudo, out)
	out[6], out[7] = byte(c>>8), byte(c)
	return out
}

func pseudo4(src, dst string, n int) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	p := append(s[:], d[:]...)
	return append(p, 0, IPProto, byte(n>>8), byte(n))
}

func pseudo6(src, dst string, n int) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	p := append(s[:], d[:]...)
	return append(p, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, IPProto)
}

func mustAddrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

var goldenAdverts = []struct {
	desc string
	adv  Advert
	want []byte
}{
	{
		desc: "v2 no auth one VIP",
		adv: Advert{Version: 2, VRID: 51, Priority: 100, Interval: time.Second,
			Addresses: mustAddrs("198.18.0.100")},
		want: withSum([]byte{
			0x21, 51, 100, 1,
			0, 1, 0, 0,
			198, 18, 0, 100,
			0, 0, 0, 0, 0, 0, 0, 0,
		}, nil),
	},
	{
		desc: "v2 PASS two VIPs",
		adv: Advert{Version: 2, VRID: 7, Priority: 150, Interval: 3 * time.Second,
			AuthType: AuthPass, AuthData: PassData("secret1234"),
			Addresses: mustAddrs("198.18.0.100", "198.18.0.101")},
		want: withSum([]byte{
			0x21, 7, 150, 2,
			1, 3, 0, 0,
			198, 18, 0, 100,
			198, 18, 0, 101,
			's', 'e', 'c', 'r', 'e', 't', '1', '2',
		}, nil),
	},
	{
		desc: "v2 priority 0 (shutdown)",
		adv: Advert{Version: 2, VRID: 255, Priority: 0, Interval: 255 * time.Second,
			AuthType: AuthPass, AuthData: PassData("pw"),
			Addresses: mustAddrs("198.18.1.1")},
		want: withSum([]byte{
			0x21, 255, 0, 1,
			1, 255, 0, 0,
			198, 18, 1, 1,
			'p', 'w', 0, 0, 0, 0, 0, 0,
		}, nil),
	},
	{
		desc: "v3 IPv4 multicast 1s",
		adv: Advert{Version: 3, VRID: 51, Priority: 200, Interval: time.Second,
			Addresses: mustAddrs("198.18.0.100"),
			Src:       netip.MustParseAddr("198.18.0.1"), Dst: GroupV4},
		want: withSum([]byte{
			0x31, 51, 200, 1,
			0, 100, 0, 0,
			198, 18, 0, 100,
		}, pseudo4("198.18.0.1", "224.0.0.18", 12)),
	},
	{
		desc: "v3 IPv4 unicast peer in pseudo-header, 40.95s",
		adv: Advert{Version: 3, VRID: 1, Priority: 254, Interval: 40950 * time.Millisecond,
			Addresses: mustAddrs("198.18.0.100", "198.18.0.101", "198.18.0.102"),
			Src:       netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2")},
		want: withSum([]byte{
			0x31, 1, 254, 3,
			0x0f, 0xff, 0, 0,
			198, 18, 0, 100,
			198, 18, 0, 101,
			198, 18, 0, 102,
		}, pseudo4("198.18.0.1", "198.18.0.2", 20)),
	},
	{
		desc: "v3 IPv6 multicast",
		adv: Advert{Version: 3, VRID: 9, Priority: 100, Interval: 50 * time.Millisecond,
			Addresses: mustAddrs("2001:db8::100"),
			Src:       netip.MustParseAddr("fe80::1"), Dst: GroupV6},
		want: withSum(append([]byte{
			0x31, 9, 100, 1,
			0, 5, 0, 0,
		}, netip.MustParseAddr("2001:db8::100").AsSlice()...), pseudo6("fe80::1", "ff02::12", 24)),
	},
	{
		desc: "v3 IPv4 no addresses",
		adv: Advert{Version: 3, VRID: 2, Priority: 1, Interval: 10 * time.Millisecond,
			Src: netip.MustParseAddr("198.18.0.1"), Dst: GroupV4},
		want: withSum([]byte{0x31, 2, 1, 0, 0, 1, 0, 0}, pseudo4("198.18.0.1", "224.0.0.18", 8)),
	},
}

func TestAdvertMarshalGolden(t *testing.T) {
	for _, tt := range goldenAdverts {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := tt.adv.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("MarshalBinary:\n got % x\nwant % x", got, tt.want)
			}
			back := Advert{Src: tt.adv.Src, Dst: tt.adv.Dst}
			if err := back.UnmarshalBinary(tt.want); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			want := tt.adv
			want.Checksum = uint16(tt.want[6])<<8 | uint16(tt.want[7])
			if back.Version != want.Version || back.VRID != want.VRID || back.Priority != want.Priority ||
				back.Interval != want.Interval || back.AuthType != want.AuthType ||
				back.AuthData != want.AuthData || back.Checksum != want.Checksum ||
				len(back.Addresses) != len(want.Addresses) {
				t.Fatalf("UnmarshalBinary:\n got %+v\nwant %+v", back, want)
			}
			for i := range back.Addresses {
				if back.Addresses[i] != want.Addresses[i] {
					t.Errorf("address %d: got %v, want %v", i, back.Addresses[i], want.Addresses[i])
				}
			}
		})
	}
}

// TestAdvertV2Gopacket decodes our v2 bytes with gopacket's independent
// VRRPv2 decoder.
func TestAdvertV2Gopacket(t *testing.T) {
	for _, tt := range goldenAdverts {
		if tt.adv.Version != 2 {
			continue
		}
		t.Run(tt.desc, func(t *testing.T) {
			b, err := tt.adv.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var g layers.VRRPv2
			if err := g.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
				t.Fatalf("gopacket decode: %v", err)
			}
			if g.Version != 2 || g.VirtualRtrID != tt.adv.VRID || g.Priority != tt.adv.Priority ||
				int(g.CountIPAddr) != len(tt.adv.Addresses) || uint8(g.AuthType) != uint8(tt.adv.AuthType) ||
				time.Duration(g.AdverInt)*time.Second != tt.adv.Interval {
				t.Fatalf("gopacket sees %+v, want fields of %+v", g, tt.adv)
			}
			for i, ip := range g.IPAddress {
				if !ip.Equal(net.IP(tt.adv.Addresses[i].AsSlice())) {
					t.Errorf("address %d: gopacket %v, want %v", i, ip, tt.adv.Addresses[i])
				}
			}
			if refChecksum(b) != 0 {
				t.Errorf("reference checksum over message = %#x, want 0", refChecksum(b))
			}
		})
	}
}

func TestAdvertUnmarshalErrors(t *testing.T) {
	src, grp := netip.MustParseAddr("198.18.0.1"), GroupV4
	good2 := goldenAdverts[0].want
	good3 := goldenAdverts[3].want
	mut := func(b []byte, f func([]byte)) []byte {
		b = bytes.Clone(b)
		f(b)
		return b
	}
	tests := []struct {
		desc     string
		src, dst netip.Addr
		in       []byte
		want     error
	}{
		{desc: "empty", in: nil, want: ErrTooShort},
		{desc: "7 bytes", in: good2[:7], want: ErrTooShort},
		{desc: "v2 without auth data", in: good2[:12], want: ErrTooShort},
		{desc: "version 1", in: mut(good2, func(b []byte) { b[0] = 0x11 }), want: ErrBadVersion},
		{desc: "version 4", in: mut(good2, func(b []byte) { b[0] = 0x41 }), want: ErrBadVersion},
		{desc: "type 2", in: mut(good2, func(b []byte) { b[0] = 0x22 }), want: ErrBadType},
		{desc: "v2 count 2 with one address", in: mut(good2, func(b []byte) { b[3] = 2 }), want: ErrAddrCount},
		{desc: "v2 trailing byte", in: append(bytes.Clone(good2), 0), want: ErrAddrCount},
		{desc: "v2 bad checksum", in: mut(good2, func(b []byte) { b[7] ^= 1 }), want: ErrBadChecksum},
		{desc: "v2 priority changed", in: mut(good2, func(b []byte) { b[2] = 101 }), want: ErrBadChecksum},
		{desc: "v2 over IPv6", src: netip.MustParseAddr("fe80::1"), dst: GroupV6, in: good2, want: ErrFamily},
		{desc: "v3 without pseudo-header", in: good3, want: ErrNoPseudoHeader},
		{desc: "v3 wrong destination (RFC 9568 style / other peer)", src: src, dst: netip.MustParseAddr("198.18.0.9"), in: good3, want: ErrBadChecksum},
		{desc: "v3 checksum without pseudo-header", src: src, dst: grp,
			in: mut(good3, func(b []byte) {
				b[6], b[7] = 0, 0
				c := refChecksum(b)
				b[6], b[7] = byte(c>>8), byte(c)
			}), want: ErrBadChecksum},
		{desc: "v3 count mismatch", src: src, dst: grp, in: mut(good3, func(b []byte) { b[3] = 0 }), want: ErrAddrCount},
		{desc: "v3 IPv4 bytes as IPv6", src: netip.MustParseAddr("fe80::1"), dst: GroupV6, in: good3, want: ErrAddrCount},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			a := Advert{Src: tt.src, Dst: tt.dst}
			err := a.UnmarshalBinary(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("UnmarshalBinary(% x) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestAdvertMarshalErrors(t *testing.T) {
	src := netip.MustParseAddr("198.18.0.1")
	tests := []struct {
		desc string
		adv  Advert
		want error
	}{
		{"version 1", Advert{Version: 1, Interval: time.Second}, ErrBadVersion},
		{"v2 sub-second", Advert{Version: 2, Interval: 1500 * time.Millisecond}, ErrBadInterval},
		{"v2 zero interval", Advert{Version: 2}, ErrBadInterval},
		{"v2 256s", Advert{Version: 2, Interval: 256 * time.Second}, ErrBadInterval},
		{"v2 IPv6", Advert{Version: 2, Interval: time.Second, Addresses: mustAddrs("2001:db8::1")}, ErrFamily},
		{"v3 5ms", Advert{Version: 3, Interval: 5 * time.Millisecond, Src: src, Dst: GroupV4}, ErrBadInterval},
		{"v3 41s", Advert{Version: 3, Interval: 41 * time.Second, Src: src, Dst: GroupV4}, ErrBadInterval},
		{"v3 no pseudo-header", Advert{Version: 3, Interval: time.Second}, ErrNoPseudoHeader},
		{"mixed families", Advert{Version: 3, Interval: time.Second, Src: src, Dst: GroupV4,
			Addresses: mustAddrs("198.18.0.1", "2001:db8::1")}, ErrFamily},
		{"v6 addresses with v4 source", Advert{Version: 3, Interval: time.Second, Src: src, Dst: GroupV4,
			Addresses: mustAddrs("2001:db8::1")}, ErrFamily},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if _, err := tt.adv.MarshalBinary(); !errors.Is(err, tt.want) {
				t.Fatalf("MarshalBinary(%+v) = %v, want %v", tt.adv, err, tt.want)
			}
		})
	}
}

func TestCheckAuth(t *testing.T) {
	pw := PassData("secret")
	tests := []struct {
		desc string
		adv  Advert
		typ  AuthType
		data [8]byte
		want error
	}{
		{"v2 PASS match", Advert{Version: 2, AuthType: AuthPass, AuthData: pw}, AuthPass, pw, nil},
		{"v2 PASS only first 8 bytes count", Advert{Version: 2, AuthType: AuthPass, AuthData: PassData("12345678")}, AuthPass, PassData("123456789"), nil},
		{"v2 PASS wrong password", Advert{Version: 2, AuthType: AuthPass, AuthData: PassData("other")}, AuthPass, pw, ErrAuthMismatch},
		{"v2 none vs PASS", Advert{Version: 2, AuthType: AuthNone}, AuthPass, pw, ErrAuthMismatch},
		{"v2 none vs none", Advert{Version: 2, AuthType: AuthNone}, AuthNone, [8]byte{}, nil},
		{"v3 ignores auth", Advert{Version: 3}, AuthPass, pw, nil},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if err := tt.adv.CheckAuth(tt.typ, tt.data); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("CheckAuth = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, tt := range goldenAdverts {
		f.Add(tt.want, tt.adv.Src.IsValid() && tt.adv.Src.Is6())
	}
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		src, dst := netip.MustParseAddr("198.18.0.1"), GroupV4
		if v6 {
			src, dst = netip.MustParseAddr("fe80::1"), GroupV6
		}
		a := Advert{Src: src, Dst: dst}
		if err := a.UnmarshalBinary(b); err != nil {
			return
		}
		out, err := a.MarshalBinary()
		if err != nil {
			// Valid on the wire but not re-encodable: only a zero interval.
			if a.Interval == 0 && errors.Is(err, ErrBadInterval) {
				return
			}
			t.Fatalf("MarshalBinary of decoded %+v: %v", a, err)
		}
		// The reserved top bits of the v3 interval word are not kept.
		want := bytes.Clone(b)
		if a.Version == 3 && want[4]&0xf0 != 0 {
			return
		}
		if !bytes.Equal(out, want) {
			t.Fatalf("round trip:\n got % x\nwant % x", out, want)
		}
	})
}
