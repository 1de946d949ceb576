package vrrp

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestGARPFrame(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x01, 0x33}
	vip := netip.MustParseAddr("198.18.0.100")
	pkt := gopacket.NewPacket(GARPFrame(mac, vip), layers.LayerTypeEthernet, gopacket.Default)
	eth, _ := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	arp, _ := pkt.Layer(layers.LayerTypeARP).(*layers.ARP)
	if eth == nil || arp == nil {
		t.Fatalf("not an Ethernet ARP frame: %v", pkt)
	}
	if !bytes.Equal(eth.DstMAC, layers.EthernetBroadcast) || !bytes.Equal(eth.SrcMAC, mac) {
		t.Errorf("Ethernet %v -> %v, want %v -> broadcast", eth.SrcMAC, eth.DstMAC, mac)
	}
	if arp.Operation != layers.ARPRequest || arp.AddrType != layers.LinkTypeEthernet || arp.Protocol != layers.EthernetTypeIPv4 {
		t.Errorf("ARP op %d htype %v ptype %v, want request Ethernet IPv4", arp.Operation, arp.AddrType, arp.Protocol)
	}
	if !bytes.Equal(arp.SourceHwAddress, mac) || !bytes.Equal(arp.SourceProtAddress, vip.AsSlice()) ||
		!bytes.Equal(arp.DstProtAddress, vip.AsSlice()) {
		t.Errorf("ARP sender %v/%v target %v, want %v/%v target %v",
			net.HardwareAddr(arp.SourceHwAddress), net.IP(arp.SourceProtAddress), net.IP(arp.DstProtAddress), mac, vip, vip)
	}
}

func TestUnsolicitedNA(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x00, 0x5e, 0x00, 0x02, 0x33}
	vip := netip.MustParseAddr("2001:db8::100")
	body := UnsolicitedNA(mac, vip)
	// The kernel adds the checksum; decode the ICMPv6 header and NA body.
	var icmp layers.ICMPv6
	if err := icmp.DecodeFromBytes(body, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if icmp.TypeCode.Type() != layers.ICMPv6TypeNeighborAdvertisement || icmp.TypeCode.Code() != 0 {
		t.Fatalf("ICMPv6 type %v, want neighbor advertisement", icmp.TypeCode)
	}
	var na layers.ICMPv6NeighborAdvertisement
	if err := na.DecodeFromBytes(icmp.Payload, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if !na.Override() || na.Solicited() || na.Router() {
		t.Errorf("flags %#x, want override only", na.Flags)
	}
	if !na.TargetAddress.Equal(net.IP(vip.AsSlice())) {
		t.Errorf("target %v, want %v", na.TargetAddress, vip)
	}
	if len(na.Options) != 1 || na.Options[0].Type != layers.ICMPv6OptTargetAddress || !bytes.Equal(na.Options[0].Data, mac) {
		t.Errorf("options %v, want target link-layer address %v", na.Options, mac)
	}
}
