package loader

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
)

// DefaultPinDir is where xlbd pins its state unless told otherwise.
const DefaultPinDir = "/sys/fs/bpf/xlb"

// DefaultFlowTableSize is the connection table's default capacity.
const DefaultFlowTableSize = 1 << 20

// Options configure Open.
type Options struct {
	// PinDir is a directory on a bpffs where maps and links are pinned.
	PinDir string
	// FlowTableSize is the connection table's capacity; 0 means
	// DefaultFlowTableSize.
	FlowTableSize uint32
	// Logger receives what the loader decided (adopted pins, generic XDP
	// fallback); nil discards it.
	Logger *slog.Logger
}

// Dataplane is xlb's loaded XDP program and its maps.
type Dataplane struct {
	objs   xlbObjects
	pinDir string
	log    *slog.Logger

	maxServices uint32
	ringSize    uint32
	maxReals    uint32
	// ringSpec makes the scheduling rings; nil when opened read-only.
	ringSpec *ebpf.MapSpec
	// clock runs xlb_clock (clock_linux.go); hz is the kernel's HZ.
	clock *ebpf.Program
	hz    uint32
	// filter is what the address filter holds, as SetAddrFilter last wrote
	// or read it; nil until then.
	filter []uint64
	// realsEnd bounds the reals map's written ids (maps_linux.go).
	realsEnd realsEnd
}

// Open loads the XDP program. Maps already pinned under opts.PinDir are
// adopted with their contents (the connection table, counters, services), so
// a restarted daemon loses no flow; missing ones are created and pinned.
func Open(opts Options) (*Dataplane, error) {
	if opts.PinDir == "" {
		opts.PinDir = DefaultPinDir
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	mounted, err := EnsureBPFFS(opts.PinDir)
	if err != nil {
		return nil, err
	}
	if mounted {
		log.Warn("no bpffs was mounted on "+bpffsRoot+": mounted one. Under ip netns exec this mount is private "+
			"and the pins, so the data plane, go away when xlbd exits; use nsenter --net= to keep them", "bpffs", opts.PinDir)
	}

	spec, err := loadXlb()
	if err != nil {
		return nil, fmt.Errorf("load xlb BPF spec: %w", err)
	}
	size := opts.FlowTableSize
	if size == 0 {
		size = pinnedFlowTableSize(opts.PinDir)
	}
	spec.Maps[xlbMapFlows].MaxEntries = size
	// Persistence templates: one per client prefix of a persistent
	// service, a quarter of the flows (an LRU table: the least recently
	// used template goes first when it is full).
	spec.Maps[xlbMapPersistTmpl].MaxEntries = max(size/4, 4096)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("size the flow cache: %w", err)
	}
	spec.Maps[xlbMapFlowCache].MaxEntries = uint32(cpus) * flowCacheSlots
	spec.Maps[xlbMapFlowCacheReply].MaxEntries = uint32(cpus) * flowCacheSlots

	if err := resetIncompatible(spec, opts.PinDir, log); err != nil {
		return nil, err
	}
	d := &Dataplane{pinDir: opts.PinDir, log: log, ringSpec: spec.Maps[xlbMapSvcRings].InnerMap.Copy(), realsEnd: realsEnd{writer: true}}
	err = spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{
		Maps: ebpf.MapOptions{PinPath: opts.PinDir},
	})
	if err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load xlb BPF objects: %+v", verr)
		}
		return nil, fmt.Errorf("load xlb BPF objects: %w", err)
	}
	d.clock = d.objs.XlbClock
	if err := d.initClock(); err != nil {
		_ = d.objs.Close()
		return nil, err
	}

	d.setLimits()
	return d, nil
}

// resetIncompatible removes the pins of maps whose layout differs from this
// program's (a new xlb version, or another --flow-table-size), so that they
// are created anew, and says what each reset loses. Compatible maps are
// adopted with their contents. A running program keeps the old maps until
// its link is updated to the new program.
func resetIncompatible(spec *ebpf.CollectionSpec, pinDir string, log *slog.Logger) error {
	for name, ms := range spec.Maps {
		if ms.Pinning != ebpf.PinByName {
			continue
		}
		path := filepath.Join(pinDir, name)
		m, err := ebpf.LoadPinnedMap(path, nil)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open pinned map %s: %w", path, err)
		}
		diff := ms.Compatible(m)
		if diff == nil && ms.InnerMap != nil {
			diff = innerCompatible(ms.InnerMap, m)
		}
		m.Close()
		if diff == nil {
			continue
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("reset pinned map %s: %w", path, err)
		}
		if errors.Is(diff, errNoInnerMap) {
			log.Debug("pinned map made anew", "map", name, "reason", diff.Error())
			continue
		}
		lost, ok := resetLoses[name]
		if !ok {
			lost = "its contents"
		}
		log.Warn("pinned map reset: its layout differs from this xlb's", "map", name, "change", diff.Error(), "lost", lost)
	}
	return nil
}

// innerCompatible checks the inner maps of a pinned map of maps against
// this program's template: the verifier checks the program against the
// template the pinned map was made with, which MapSpec.Compatible does not
// compare. A map of maps holding no inner map cannot show its template and
// is reset too (it loses nothing).
func innerCompatible(want *ebpf.MapSpec, outer *ebpf.Map) error {
	inner, err := firstInnerMap(outer)
	if err != nil {
		return err
	}
	if inner == nil {
		return errNoInnerMap
	}
	defer inner.Close()
	var diffs []string
	if inner.Type() != want.Type {
		diffs = append(diffs, fmt.Sprintf("inner Type: %s changed to %s", inner.Type(), want.Type))
	}
	if inner.KeySize() != want.KeySize {
		diffs = append(diffs, fmt.Sprintf("inner KeySize: %d changed to %d", inner.KeySize(), want.KeySize))
	}
	if inner.ValueSize() != want.ValueSize {
		diffs = append(diffs, fmt.Sprintf("inner ValueSize: %d changed to %d", inner.ValueSize(), want.ValueSize))
	}
	if inner.Flags() != want.Flags {
		diffs = append(diffs, fmt.Sprintf("inner Flags: %d changed to %d", inner.Flags(), want.Flags))
	}
	if len(diffs) == 0 {
		return nil
	}
	return errors.New(strings.Join(diffs, ", "))
}

var errNoInnerMap = errors.New("it holds no inner map to compare with this xlb's template")

// firstInnerMap opens the inner map in the lowest slot of an array of maps;
// nil if every slot is empty.
func firstInnerMap(outer *ebpf.Map) (*ebpf.Map, error) {
	var id uint32
	for key := range outer.MaxEntries() {
		err := outer.Lookup(key, &id)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read pinned map of maps: %w", err)
		}
		return ebpf.NewMapFromID(ebpf.MapID(id))
	}
	return nil, nil
}

// resetLoses says, for an operator, what resetting a map costs.
var resetLoses = map[string]string{
	xlbMapFlows:        "the connection table: established flows are scheduled anew, possibly to another real",
	xlbMapServices:     "nothing lasting: services are written again from the config",
	xlbMapSvcRings:     "nothing lasting: rings are written again from the config",
	xlbMapSchedStates:  "the round-robin positions",
	xlbMapReals:        "real ids: flows still in the connection table may point at no real and are dropped until they end",
	xlbMapNatReals:     "nothing lasting: NAT reals are written again from the config",
	xlbMapRealStats:    "the per-real counters",
	xlbMapReasonStats:  "the pass/drop counters",
	xlbMapIfSlots:      "nothing lasting: interfaces get their counter slots again as xlbd attaches",
	xlbMapIfSlotNames:  "the names of the pass/drop counters' interfaces until xlbd attaches again",
	xlbMapAddrFilter:   "nothing lasting: the address filter is written again from the config",
	xlbMapFibGen:       "nothing lasting: cached next hops are looked up again",
	xlbMapRealNexthops: "nothing lasting: cached next hops are looked up again",
	xlbMapFlowCacheGen: "nothing lasting: the flow cache is filled again from the connection table",
}

// pinnedFlowTableSize is the size of a pinned connection table, so that a
// restart without --flow-table-size keeps it; DefaultFlowTableSize when
// there is none.
func pinnedFlowTableSize(pinDir string) uint32 {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, xlbMapFlows), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return DefaultFlowTableSize
	}
	defer m.Close()
	return m.MaxEntries()
}

func (d *Dataplane) setLimits() {
	d.maxServices, d.ringSize, d.maxReals = limitsOf(d.objs.SchedStates.MaxEntries(), d.objs.Reals.MaxEntries())
}

// limitsOf derives the data plane's capacities from its maps' sizes: the
// services, the reals of one service (MaxServiceReals) and the reals in all.
func limitsOf(schedStates, reals uint32) (maxServices, serviceReals, maxReals uint32) {
	return schedStates, uint32(MaxServiceReals), reals
}

// PinDir is the bpffs directory holding the data plane's pins.
func (d *Dataplane) PinDir() string { return d.pinDir }

// MaxServices is how many virtual services the data plane can hold.
func (d *Dataplane) MaxServices() uint32 { return d.maxServices }

// RingSize is the most reals one service can have (MaxServiceReals): lc,
// wlc, sed and nq compare them all per new flow. A scheduling ring itself
// holds up to MaxRingSize entries.
func (d *Dataplane) RingSize() uint32 { return d.ringSize }

// MaxReals is how many (service, real) pairs the data plane can hold.
func (d *Dataplane) MaxReals() uint32 { return d.maxReals }

// Close releases the loader's handles. Pinned maps and links stay, so the
// data plane keeps forwarding.
func (d *Dataplane) Close() error {
	return d.objs.Close()
}

// Remove detaches the program from every interface it is attached to
// through a pinned link and deletes every pin under the pin directory.
func (d *Dataplane) Remove() error {
	return RemovePins(d.pinDir)
}

// RemovePins detaches pinned links and removes xlb's pins and the pin
// directory pinDir, for `xlbd --cleanup` and `--detach-on-exit`.
func RemovePins(pinDir string) error {
	links, err := pinnedLinks(pinDir)
	if err != nil {
		return err
	}
	var errs []error
	for ifname := range links {
		if err := detachPinned(pinDir, ifname); err != nil {
			errs = append(errs, err)
		}
	}
	// Only xlb's own pins go: --bpffs may name a directory shared with
	// other programs.
	spec, err := loadXlb()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("load xlb BPF spec: %w", err))...)
	}
	for name, m := range spec.Maps {
		if m.Pinning != ebpf.PinByName {
			continue
		}
		if err := os.Remove(filepath.Join(pinDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pin: %w", err))
		}
	}
	for _, dir := range []string{linkDir(pinDir), pinDir} {
		if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove pin directory (other pins left in it?): %w", err))
		}
	}
	return errors.Join(errs...)
}

func linkDir(pinDir string) string { return filepath.Join(pinDir, "links") }

// Capacity reads the data plane's limits from the compiled program without
// loading it, so a config can be checked before anything is created.
func Capacity() (maxServices, ringSize, maxReals uint32, err error) {
	spec, err := loadXlb()
	if err != nil {
		return 0, 0, 0, fmt.Errorf("load xlb BPF spec: %w", err)
	}
	maxServices, ringSize, maxReals = limitsOf(spec.Maps[xlbMapSchedStates].MaxEntries, spec.Maps[xlbMapReals].MaxEntries)
	return maxServices, ringSize, maxReals, nil
}

// OpenPinned opens the maps a running (or exited) xlbd left pinned under
// pinDir, to read them, as the xlb CLI does. Nothing is loaded or attached.
func OpenPinned(pinDir string) (*Dataplane, error) {
	d := &Dataplane{pinDir: pinDir, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	maps := map[string]**ebpf.Map{
		xlbMapServices:    &d.objs.Services,
		xlbMapSvcRings:    &d.objs.SvcRings,
		xlbMapSchedStates: &d.objs.SchedStates,
		xlbMapReals:       &d.objs.Reals,
		xlbMapNatReals:    &d.objs.NatReals,
		xlbMapFlows:       &d.objs.Flows,
		xlbMapRealStats:   &d.objs.RealStats,
		xlbMapReasonStats: &d.objs.ReasonStats,
		xlbMapIfSlotNames: &d.objs.IfSlotNames,
		xlbMapClockHzMap:  &d.objs.ClockHzMap,
		xlbMapRealConns:   &d.objs.RealConns,
		xlbMapPersistTmpl: &d.objs.PersistTmpl,
		xlbMapDpFlags:     &d.objs.DpFlags,
	}
	for name, m := range maps {
		pinned, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			_ = d.objs.xlbMaps.Close()
			return nil, fmt.Errorf("open pinned map %s under %s (is xlbd running with --bpffs %s?): %w", name, pinDir, pinDir, err)
		}
		*m = pinned
	}
	if err := d.openClock(); err != nil {
		_ = d.objs.Close()
		return nil, err
	}
	d.setLimits()
	return d, nil
}

// openClock loads xlb_clock on its own (it uses no map) and reads the HZ
// xlbd wrote, so that a reader of pinned maps can tell how old a time
// stamp is.
func (d *Dataplane) openClock() error {
	spec, err := loadXlb()
	if err != nil {
		return fmt.Errorf("load xlb BPF spec: %w", err)
	}
	prog, err := ebpf.NewProgram(spec.Programs[xlbProgXlbClock])
	if err != nil {
		return fmt.Errorf("load the data plane's clock program: %w", err)
	}
	d.objs.XlbClock, d.clock = prog, prog
	if err := d.objs.ClockHzMap.Lookup(uint32(0), &d.hz); err != nil {
		return fmt.Errorf("read HZ: %w", err)
	}
	return nil
}
