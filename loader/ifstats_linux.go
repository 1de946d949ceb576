package loader

import (
	"fmt"
)

// OtherInterfaces names the reason counters of packets that came in on a
// device without a slot of its own (more than XLB_MAX_IF_SLOTS-1 devices,
// an ifindex too large, or a program attached by something else).
const OtherInterfaces = "(other)"

const (
	maxIfSlots = uint32(xlbLimitsXLB_MAX_IF_SLOTS)
	maxIfindex = uint32(xlbLimitsXLB_MAX_IFINDEX)
)

// ifSlotName is a slot's device name as the map holds it.
func ifSlotName(s xlbIfSlot) string {
	b := make([]byte, 0, len(s.Name))
	for _, c := range s.Name {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}

// ifSlots reads which device has each slot (slot 0 has none).
func (d *Dataplane) ifSlots() ([]xlbIfSlot, error) {
	slots := make([]xlbIfSlot, maxIfSlots)
	for i := range slots {
		if err := d.objs.IfSlotNames.Lookup(uint32(i), &slots[i]); err != nil {
			return nil, fmt.Errorf("read interface slot %d: %w", i, err)
		}
	}
	return slots, nil
}

// assignIfSlot gives the device ifname (now ifindex) its own reason
// counters: the slot it had (a device re-created under the same name keeps
// its counters), else a free one. With every slot taken it counts in slot
// 0, with a warning.
func (d *Dataplane) assignIfSlot(ifname string, ifindex int) error {
	slots, err := d.ifSlots()
	if err != nil {
		return err
	}
	slot := uint32(0)
	for i := uint32(1); i < maxIfSlots; i++ {
		if ifSlotName(slots[i]) == ifname {
			slot = i
			break
		}
		if slot == 0 && slots[i].Ifindex == 0 && ifSlotName(slots[i]) == "" {
			slot = i // the first free one, unless the name turns up later
		}
	}
	if slot == 0 {
		d.log.Warn("xdp: no reason counter slot left for interface; its passes and drops count under "+OtherInterfaces, "interface", ifname)
		return nil
	}
	if old := slots[slot].Ifindex; old != 0 && old != uint32(ifindex) && old < maxIfindex {
		if err := d.objs.IfSlots.Put(old, uint32(0)); err != nil {
			return fmt.Errorf("clear interface slot of ifindex %d: %w", old, err)
		}
	}
	v := xlbIfSlot{Ifindex: uint32(ifindex)}
	for i := 0; i < len(ifname) && i < len(v.Name)-1; i++ {
		v.Name[i] = int8(ifname[i])
	}
	if err := d.objs.IfSlotNames.Put(slot, &v); err != nil {
		return fmt.Errorf("name interface slot %d %s: %w", slot, ifname, err)
	}
	if uint32(ifindex) >= maxIfindex {
		d.log.Warn("xdp: interface index too large for a reason counter slot; its passes and drops count under "+OtherInterfaces, "interface", ifname, "ifindex", ifindex)
		return nil
	}
	if err := d.objs.IfSlots.Put(uint32(ifindex), slot); err != nil {
		return fmt.Errorf("set interface slot of %s: %w", ifname, err)
	}
	return nil
}

// ReasonStats sums the pass and drop counters over all CPUs and devices.
func (d *Dataplane) ReasonStats() (map[Reason]Counters, error) {
	byIf, err := d.ReasonStatsByInterface()
	if err != nil {
		return nil, err
	}
	out := SumInterfaces(byIf)
	for _, r := range Reasons() {
		if _, ok := out[r]; !ok {
			out[r] = Counters{}
		}
	}
	return out, nil
}

// ReasonStatsByInterface reads the pass and drop counters of each device
// the program was attached to (by name; OtherInterfaces for the rest),
// summed over all CPUs. A device is listed while its slot is, also after
// it was detached.
func (d *Dataplane) ReasonStatsByInterface() (map[string]map[Reason]Counters, error) {
	slots, err := d.ifSlots()
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[Reason]Counters)
	for i, s := range slots {
		name := ifSlotName(s)
		if i == 0 {
			name = OtherInterfaces
		} else if name == "" {
			continue
		}
		counts := make(map[Reason]Counters, reasonCount)
		for _, r := range Reasons() {
			var per []xlbReasonCounters
			if err := d.objs.ReasonStats.Lookup(uint32(i)*uint32(reasonCount)+uint32(r), &per); err != nil {
				return nil, fmt.Errorf("read counters of %q on %s: %w", r, name, err)
			}
			var sum Counters
			for _, c := range per {
				sum.Packets += c.Packets
				sum.Bytes += c.Bytes
			}
			counts[r] = sum
		}
		out[name] = counts
	}
	return out, nil
}
