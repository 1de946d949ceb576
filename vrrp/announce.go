package vrrp

import (
	"encoding/binary"
	"net"
	"net/netip"
)

const (
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
)

// GARPFrame is the Ethernet frame of a gratuitous ARP for ip from mac: an
// ARP request to broadcast with sender and target protocol address both ip,
// as keepalived sends it.
func GARPFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := make([]byte, 0, 42)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	b = append(b, mac[:6]...)
	b = binary.BigEndian.AppendUint16(b, etherTypeARP)
	b = binary.BigEndian.AppendUint16(b, 1)             // hardware: Ethernet
	b = binary.BigEndian.AppendUint16(b, etherTypeIPv4) // protocol: IPv4
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, 1) // request
	a := ip.As4()
	b = append(b, mac[:6]...)
	b = append(b, a[:]...)
	b = append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	return append(b, a[:]...)
}

// UnsolicitedNA is the ICMPv6 body of an unsolicited neighbour advertisement
// for ip (override flag set, target link-layer address option mac). The
// kernel fills in the checksum.
func UnsolicitedNA(mac net.HardwareAddr, ip netip.Addr) []byte {
	b := []byte{136, 0, 0, 0, 0x20, 0, 0, 0}
	a := ip.As16()
	b = append(b, a[:]...)
	if len(mac) == 6 {
		b = append(b, 2, 1)
		b = append(b, mac...)
	}
	return b
}
