package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Protocol numbers and well-known groups (RFC 5798 §5.1).
const (
	// IPProto is the IP protocol number of VRRP.
	IPProto = 112
	// TTL is the only IPv4 TTL / IPv6 hop limit a multicast advert may carry.
	TTL = 255
)

// Multicast groups adverts are sent to unless unicast peers are configured.
var (
	GroupV4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupV6 = netip.MustParseAddr("ff02::12")
)

// AuthType is the VRRPv2 authentication type (RFC 3768 §5.3.6). VRRPv3 has
// no authentication; the field is reserved there.
type AuthType uint8

// Authentication types of VRRPv2.
const (
	AuthNone AuthType = 0
	// AuthPass is the simple text password keepalived calls "auth_type PASS".
	AuthPass AuthType = 1
	// AuthAH is IPsec AH, which this package does not implement.
	AuthAH AuthType = 2
)

func (t AuthType) String() string {
	switch t {
	case AuthNone:
		return "none"
	case AuthPass:
		return "PASS"
	case AuthAH:
		return "AH"
	}
	return fmt.Sprintf("auth-type-%d", uint8(t))
}

// Reasons an advert is dropped. A receiver counts drops by these sentinels
// with errors.Is.
var (
	ErrTooShort         = errors.New("advert too short")
	ErrBadVersion       = errors.New("bad VRRP version")
	ErrBadType          = errors.New("bad VRRP packet type")
	ErrBadChecksum      = errors.New("bad checksum")
	ErrBadTTL           = errors.New("TTL/hop limit is not 255")
	ErrAddrCount        = errors.New("address count does not match length")
	ErrAuthMismatch     = errors.New("authentication mismatch")
	ErrIntervalMismatch = errors.New("advert interval mismatch")
	ErrBadInterval      = errors.New("advert interval not representable")
	ErrFamily           = errors.New("address family mismatch")
	ErrNoPseudoHeader   = errors.New("VRRPv3 checksum needs source and destination addresses")
	ErrUnknownSource    = errors.New("advert from an unconfigured source")
	ErrVRID             = errors.New("advert for another VRID")
)

const (
	headerLen  = 8
	authLen    = 8
	typeAdvert = 1
)

// Advert is one VRRP advertisement, version 2 (RFC 3768) or 3 (RFC 5798).
//
// Src and Dst are not part of the VRRP message: they are the IP source and
// destination the advert travels with. The VRRPv3 checksum covers them through
// the pseudo-header (for unicast, Dst is the unicast peer), so MarshalBinary
// and UnmarshalBinary of a version 3 advert need them set (ErrNoPseudoHeader
// otherwise); they also give the family of a version 3 advert's Addresses.
// Version 2 is IPv4 only and ignores them.
type Advert struct {
	Version  int // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds (1..255) in
	// version 2, centiseconds (1..4095) in version 3.
	Interval time.Duration
	// AuthType and AuthData are version 2 only. AuthData holds the PASS
	// password, zero padded.
	AuthType AuthType
	AuthData [8]byte
	// Addresses are the virtual addresses, all IPv4 or all IPv6.
	Addresses []netip.Addr
	// Checksum is the checksum found by UnmarshalBinary; MarshalBinary
	// computes its own and ignores this field.
	Checksum uint16

	Src, Dst netip.Addr
}

// PassData returns the version 2 AuthData for a PASS password: keepalived
// uses the first 8 bytes, zero padded.
func PassData(password string) [8]byte {
	var d [8]byte
	copy(d[:], password)
	return d
}

// MarshalBinary encodes a with its checksum.
func (a Advert) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(nil)
}

// AppendBinary appends the encoded advert to b.
func (a Advert) AppendBinary(b []byte) ([]byte, error) {
	v6 := false
	for i, addr := range a.Addresses {
		if !addr.IsValid() {
			return nil, fmt.Errorf("address %d is invalid: %w", i, ErrFamily)
		}
		if i == 0 {
			v6 = addr.Is6() && !addr.Is4In6()
		} else if v6 != (addr.Is6() && !addr.Is4In6()) {
			return nil, fmt.Errorf("mixed IPv4 and IPv6 addresses: %w", ErrFamily)
		}
	}
	if a.Src.IsValid() && len(a.Addresses) > 0 && a.Src.Is4() == v6 {
		return nil, fmt.Errorf("addresses and source %s differ in family: %w", a.Src, ErrFamily)
	}
	if len(a.Addresses) > 255 {
		return nil, fmt.Errorf("%d addresses: %w", len(a.Addresses), ErrAddrCount)
	}
	var intv int
	switch a.Version {
	case 2:
		if v6 || (a.Src.IsValid() && !a.Src.Is4()) {
			return nil, fmt.Errorf("version 2 with IPv6: %w", ErrFamily)
		}
		if a.Interval%time.Second != 0 || a.Interval < time.Second || a.Interval > 255*time.Second {
			return nil, fmt.Errorf("interval %v for version 2: %w", a.Interval, ErrBadInterval)
		}
		intv = int(a.Interval / time.Second)
	case 3:
		if a.Interval%(10*time.Millisecond) != 0 || a.Interval < 10*time.Millisecond || a.Interval > 4095*10*time.Millisecond {
			return nil, fmt.Errorf("interval %v for version 3: %w", a.Interval, ErrBadInterval)
		}
		intv = int(a.Interval / (10 * time.Millisecond))
		if !a.Src.IsValid() || !a.Dst.IsValid() || a.Src.Is4() != a.Dst.Is4() {
			return nil, ErrNoPseudoHeader
		}
	default:
		return nil, fmt.Errorf("version %d: %w", a.Version, ErrBadVersion)
	}

	start := len(b)
	b = append(b, byte(a.Version<<4|typeAdvert), a.VRID, a.Priority, byte(len(a.Addresses)))
	if a.Version == 2 {
		b = append(b, byte(a.AuthType), byte(intv))
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(intv))
	}
	b = append(b, 0, 0) // checksum
	for _, addr := range a.Addresses {
		if v6 {
			s := addr.As16()
			b = append(b, s[:]...)
		} else {
			s := addr.Unmap().As4()
			b = append(b, s[:]...)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint16
	if a.Version == 2 {
		sum = Checksum(msg)
	} else {
		sum = ChecksumV3(msg, a.Src, a.Dst)
	}
	binary.BigEndian.PutUint16(msg[6:8], sum)
	return b, nil
}

// UnmarshalBinary decodes and validates one advert: version, type, length
// against the address count, and checksum. For version 3, set a.Src and
// a.Dst to the packet's IP source and destination first. It does not check
// TTL (the IP layer's business), VRID, authentication or interval; see
// CheckAuth and the Instance receive path.
func (a *Advert) UnmarshalBinary(b []byte) error {
	src, dst := a.Src, a.Dst
	*a = Advert{Src: src, Dst: dst}
	if len(b) < headerLen {
		return fmt.Errorf("%d bytes: %w", len(b), ErrTooShort)
	}
	ver := int(b[0] >> 4)
	if ver != 2 && ver != 3 {
		return fmt.Errorf("version %d: %w", ver, ErrBadVersion)
	}
	if b[0]&0x0f != typeAdvert {
		return fmt.Errorf("type %d: %w", b[0]&0x0f, ErrBadType)
	}
	count := int(b[3])
	body := len(b) - headerLen
	alen := 4
	switch ver {
	case 2:
		if src.IsValid() && !src.Is4() {
			return fmt.Errorf("version 2 over IPv6: %w", ErrFamily)
		}
		if body < authLen {
			return fmt.Errorf("%d bytes without authentication data: %w", len(b), ErrTooShort)
		}
		if body-authLen != 4*count {
			return fmt.Errorf("%d addresses in %d bytes: %w", count, len(b), ErrAddrCount)
		}
	case 3:
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return ErrNoPseudoHeader
		}
		if src.Is4() {
			if body != 4*count {
				return fmt.Errorf("%d IPv4 addresses in %d bytes: %w", count, len(b), ErrAddrCount)
			}
		} else {
			alen = 16
			if body != 16*count {
				return fmt.Errorf("%d IPv6 addresses in %d bytes: %w", count, len(b), ErrAddrCount)
			}
		}
	}
	a.Checksum = binary.BigEndian.Uint16(b[6:8])
	if ver == 2 {
		if Checksum(b) != 0 {
			return ErrBadChecksum
		}
	} else if ChecksumV3(b, src, dst) != 0 {
		return ErrBadChecksum
	}
	a.Version = ver
	a.VRID = b[1]
	a.Priority = b[2]
	if ver == 2 {
		a.AuthType = AuthType(b[4])
		a.Interval = time.Duration(b[5]) * time.Second
		copy(a.AuthData[:], b[len(b)-authLen:])
	} else {
		// The top 4 bits are reserved: ignored on receipt.
		a.Interval = time.Duration(binary.BigEndian.Uint16(b[4:6])&0x0fff) * 10 * time.Millisecond
	}
	if count > 0 {
		a.Addresses = make([]netip.Addr, count)
	}
	for i := range count {
		p := b[headerLen+i*alen : headerLen+(i+1)*alen]
		if alen == 4 {
			a.Addresses[i] = netip.AddrFrom4([4]byte(p))
		} else {
			a.Addresses[i] = netip.AddrFrom16([16]byte(p))
		}
	}
	return nil
}

// CheckAuth reports ErrAuthMismatch unless a version 2 advert carries the
// given authentication type and data. Version 3 adverts always pass.
func (a *Advert) CheckAuth(t AuthType, data [8]byte) error {
	if a.Version != 2 {
		return nil
	}
	if a.AuthType != t {
		return fmt.Errorf("auth type %v, want %v: %w", a.AuthType, t, ErrAuthMismatch)
	}
	if t == AuthPass && a.AuthData != data {
		return fmt.Errorf("password differs: %w", ErrAuthMismatch)
	}
	return nil
}

// Checksum is the Internet checksum (RFC 1071) of b, as VRRPv2 uses it: over
// the VRRP message only. Over a message that carries its checksum it is 0.
func Checksum(b []byte) uint16 {
	return ^fold(sum(0, b))
}

// ChecksumV3 is the VRRPv3 checksum of msg: over an IPv4 or IPv6
// pseudo-header (src, dst, protocol 112, length) and the message, as RFC 5798
// §5.2.8 and keepalived 2.2.7 compute it.
func ChecksumV3(msg []byte, src, dst netip.Addr) uint16 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.Unmap().As4()
		s = sum(s, a[:])
		s = sum(s, b[:])
		s += IPProto + uint32(len(msg))
	} else {
		a, b := src.As16(), dst.As16()
		s = sum(s, a[:])
		s = sum(s, b[:])
		s += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + IPProto
	}
	return ^fold(sum(s, msg))
}

func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
		s = (s & 0xffff) + (s >> 16)
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = (s & 0xffff) + (s >> 16)
	}
	return uint16(s)
}
