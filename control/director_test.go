package control

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

const directorConf = `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    protocol TCP
    quorum 2
    hysteresis 1
    sorry_server 198.18.1.9 80
    real_server 198.18.1.2 80 {
        weight 1
        inhibit_on_failure
    }
    real_server 198.18.1.3 80 {
        weight 1
    }
    real_server 198.18.1.4 80 {
        weight 1
    }
}
virtual_server 198.18.0.101 80 {
    lvs_sched rr
    protocol TCP
    real_server 198.18.1.2 80 {
        weight 1
    }
}
`

var (
	vs100 = loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.100"), Port: 80, Proto: loader.ProtoTCP}
	vs101 = loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.101"), Port: 80, Proto: loader.ProtoTCP}
)

func ref(svc loader.Endpoint, real string) RealRef {
	return RealRef{svc, netip.MustParseAddrPort(real)}
}

// weights renders a service's reals as "addr:port=weight" for comparisons.
func weights(st *State, svc loader.Endpoint) []string {
	for _, s := range st.Services {
		if s.Endpoint == svc {
			var out []string
			for _, r := range s.Reals {
				out = append(out, r.AddrPort().String()+"="+string(rune('0'+r.Weight)))
			}
			return out
		}
	}
	return nil
}

func TestDirector(t *testing.T) {
	cfg, err := config.Parse("d.conf", []byte(directorConf))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Desired(cfg, Limits{MaxServices: 16, RingSize: 16, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	var applied *State
	d := NewDirector(func(s *State) error { applied = s; return nil }, nil)
	if err := d.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		desc    string
		do      func() error
		want    []string // reals of VS .100 as applied
		want101 []string
	}{
		{"all up", nil,
			[]string{"198.18.1.2:80=1", "198.18.1.3:80=1", "198.18.1.4:80=1"}, []string{"198.18.1.2:80=1"}},
		{"an inhibit_on_failure real down stays with weight 0",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.2:80"), RealHealth{Up: false}) },
			[]string{"198.18.1.2:80=0", "198.18.1.3:80=1", "198.18.1.4:80=1"}, []string{"198.18.1.2:80=1"}},
		{"a plain real down leaves; alive weight 1 < quorum 2 - hysteresis 1 is false: quorum holds",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.3:80"), RealHealth{Up: false}) },
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=1"}, []string{"198.18.1.2:80=1"}},
		{"the last real down: quorum lost, the sorry server takes new flows",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.4:80"), RealHealth{Up: false}) },
			[]string{"198.18.1.2:80=0", "198.18.1.9:80=1"}, []string{"198.18.1.2:80=1"}},
		{"one back: alive 1 < quorum 2 + hysteresis 1, still the sorry server",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.4:80"), RealHealth{Up: true}) },
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=0", "198.18.1.9:80=1"}, []string{"198.18.1.2:80=1"}},
		{"up with a dynamic weight 3: alive 3 regains the quorum, the sorry server leaves",
			func() error {
				return d.SetRealHealth(ref(vs100, "198.18.1.4:80"), RealHealth{Up: true, Weight: 3, WeightSet: true})
			},
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=3"}, []string{"198.18.1.2:80=1"}},
		{"health of one service's real does not touch another's",
			func() error { return d.SetRealHealth(ref(vs101, "198.18.1.2:80"), RealHealth{Up: false}) },
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=3"}, nil},
		{"VRRP: only .101 owned, .100 leaves the data plane",
			func() error { return d.SetOwnedVIPs([]netip.Addr{netip.MustParseAddr("198.18.0.101")}) },
			nil, nil},
		{"a reload keeps the health it knows",
			func() error { d.SetOwnedVIPs(nil); return d.SetConfig(cfg, st) },
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=3"}, nil},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.desc, err)
			}
		}
		if got := weights(applied, vs100); !slices.Equal(got, s.want) {
			t.Errorf("%s: VS .100 reals %v, want %v", s.desc, got, s.want)
		}
		if got := weights(applied, vs101); !slices.Equal(got, s.want101) {
			t.Errorf("%s: VS .101 reals %v, want %v", s.desc, got, s.want101)
		}
	}
	has101 := slices.ContainsFunc(applied.Services, func(s *Service) bool { return s.Endpoint == vs101 })
	if !has101 {
		t.Errorf("VS .101 with its only real down must stay configured (it has no sorry server), got %v", applied.Services)
	}
}

func TestDirectorQuorumCallbackAndAlpha(t *testing.T) {
	const conf = `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    protocol TCP
    quorum 2
    sorry_server 198.18.1.9 80
    real_server 198.18.1.2 80 {
        weight 1
    }
    real_server 198.18.1.3 80 {
        weight 1
    }
}
`
	// The reload adds a real whose checker starts failed (alpha).
	const alphaReal = `    real_server 198.18.1.4 80 {
        weight 1
        TCP_CHECK {
            alpha
        }
    }
}
`
	parse := func(src string) (*config.Config, *State) {
		t.Helper()
		cfg, err := config.Parse("q.conf", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		st, err := Desired(cfg, Limits{MaxServices: 16, RingSize: 16, MaxReals: 64})
		if err != nil {
			t.Fatal(err)
		}
		return cfg, st
	}
	var applied *State
	d := NewDirector(func(s *State) error { applied = s; return nil }, nil)
	if err := d.SetConfig(parse(conf)); err != nil {
		t.Fatal(err)
	}
	var got []string
	d.OnQuorum(func(svc loader.Endpoint, up bool) {
		got = append(got, fmt.Sprintf("%s up=%v", svc.Addr, up))
	})
	if len(got) != 0 {
		t.Fatalf("OnQuorum reported %v for a service that holds its quorum", got)
	}

	steps := []struct {
		desc string
		do   func() error
		want []string // quorum calls so far
		real []string // reals of VS .100 as applied
	}{
		{"one real down: alive 1 < quorum 2",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.2:80"), RealHealth{Up: false}) },
			[]string{"198.18.0.100 up=false"}, []string{"198.18.1.3:80=0", "198.18.1.9:80=1"}},
		{"the same state again calls nothing",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.2:80"), RealHealth{Up: false}) },
			[]string{"198.18.0.100 up=false"}, []string{"198.18.1.3:80=0", "198.18.1.9:80=1"}},
		{"back up: quorum gained",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.2:80"), RealHealth{Up: true}) },
			[]string{"198.18.0.100 up=false", "198.18.0.100 up=true"}, []string{"198.18.1.2:80=1", "198.18.1.3:80=1"}},
		{"a reload adds an alpha real: it starts down, before any check",
			func() error {
				cfg, st := parse(strings.TrimSuffix(conf, "}\n") + alphaReal)
				return d.SetConfig(cfg, st)
			},
			[]string{"198.18.0.100 up=false", "198.18.0.100 up=true"}, []string{"198.18.1.2:80=1", "198.18.1.3:80=1"}},
		{"the alpha real is recorded down",
			func() error {
				if h, known := d.RealHealth(ref(vs100, "198.18.1.4:80")); !known || h.Up {
					return fmt.Errorf("RealHealth of the alpha real: %+v known=%v, want down and known", h, known)
				}
				if _, known := d.RealHealth(ref(vs100, "198.18.1.3:80")); known {
					return fmt.Errorf("RealHealth of a real never reported is known")
				}
				return nil
			},
			[]string{"198.18.0.100 up=false", "198.18.0.100 up=true"}, []string{"198.18.1.2:80=1", "198.18.1.3:80=1"}},
		{"its checker passes: it joins",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.4:80"), RealHealth{Up: true}) },
			[]string{"198.18.0.100 up=false", "198.18.0.100 up=true"}, []string{"198.18.1.2:80=1", "198.18.1.3:80=1", "198.18.1.4:80=1"}},
		{"a reload keeps a known alpha real's health",
			func() error {
				cfg, st := parse(strings.TrimSuffix(conf, "}\n") + alphaReal)
				return d.SetConfig(cfg, st)
			},
			[]string{"198.18.0.100 up=false", "198.18.0.100 up=true"}, []string{"198.18.1.2:80=1", "198.18.1.3:80=1", "198.18.1.4:80=1"}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.desc, err)
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("%s: quorum calls %v, want %v", s.desc, got, s.want)
		}
		if w := weights(applied, vs100); !slices.Equal(w, s.real) {
			t.Errorf("%s: VS .100 reals %v, want %v", s.desc, w, s.real)
		}
	}

	// A callback set while a service is below its quorum hears of it at once.
	d.SetRealHealth(ref(vs100, "198.18.1.2:80"), RealHealth{Up: false})
	d.SetRealHealth(ref(vs100, "198.18.1.3:80"), RealHealth{Up: false})
	var late []string
	d.OnQuorum(func(svc loader.Endpoint, up bool) { late = append(late, fmt.Sprintf("%s up=%v", svc.Addr, up)) })
	if want := []string{"198.18.0.100 up=false"}; !slices.Equal(late, want) {
		t.Errorf("OnQuorum set below quorum reported %v, want %v", late, want)
	}
}

func TestDirectorSetRealHealths(t *testing.T) {
	cfg, err := config.Parse("d.conf", []byte(directorConf))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Desired(cfg, Limits{MaxServices: 16, RingSize: 16, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	var applies int
	var applied *State
	d := NewDirector(func(s *State) error { applies++; applied = s; return nil }, nil)
	if err := d.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		desc    string
		changes map[RealRef]RealHealth
		applies int // applies so far
		want    []string
	}{
		{"three changes, one apply", map[RealRef]RealHealth{
			ref(vs100, "198.18.1.2:80"): {Up: false},
			ref(vs100, "198.18.1.3:80"): {Up: false},
			ref(vs100, "198.18.1.4:80"): {Up: true, Weight: 3, WeightSet: true},
		}, 2, []string{"198.18.1.2:80=0", "198.18.1.4:80=3"}},
		{"nothing new: no apply", map[RealRef]RealHealth{
			ref(vs100, "198.18.1.2:80"): {Up: false},
		}, 2, []string{"198.18.1.2:80=0", "198.18.1.4:80=3"}},
		{"empty: no apply", nil, 2, []string{"198.18.1.2:80=0", "198.18.1.4:80=3"}},
	} {
		if err := d.SetRealHealths(step.changes); err != nil {
			t.Fatalf("%s: %v", step.desc, err)
		}
		if applies != step.applies {
			t.Errorf("%s: %d applies, want %d", step.desc, applies, step.applies)
		}
		if got := weights(applied, vs100); !slices.Equal(got, step.want) {
			t.Errorf("%s: VS .100 reals %v, want %v", step.desc, got, step.want)
		}
	}
}

func TestDirectorRuntimeWeight(t *testing.T) {
	cfg, err := config.Parse("d.conf", []byte(directorConf))
	if err != nil {
		t.Fatal(err)
	}
	st, err := Desired(cfg, Limits{MaxServices: 16, RingSize: 16, MaxReals: 64})
	if err != nil {
		t.Fatal(err)
	}
	var applied *State
	applies := 0
	d := NewDirector(func(s *State) error { applies++; applied = s; return nil }, nil)
	if err := d.SetConfig(cfg, st); err != nil {
		t.Fatal(err)
	}
	w := func(n int) *int { return &n }
	steps := []struct {
		desc    string
		do      func() error
		wantErr error
		want    []string // reals of VS .100 as applied
	}{
		{"weight 5 replaces the configured 1",
			func() error { return d.SetRuntimeWeight(ref(vs100, "198.18.1.3:80"), w(5)) }, nil,
			[]string{"198.18.1.2:80=1", "198.18.1.3:80=5", "198.18.1.4:80=1"}},
		{"drain: weight 0 keeps the real, quiescent",
			func() error { return d.SetRuntimeWeight(ref(vs100, "198.18.1.2:80"), w(0)) }, nil,
			[]string{"198.18.1.2:80=0", "198.18.1.3:80=5", "198.18.1.4:80=1"}},
		{"a down real stays down whatever its runtime weight",
			func() error { return d.SetRealHealth(ref(vs100, "198.18.1.3:80"), RealHealth{Up: false}) }, nil,
			[]string{"198.18.1.2:80=0", "198.18.1.4:80=1"}},
		{"back up: the runtime weight wins over a dynamic weight",
			func() error {
				return d.SetRealHealth(ref(vs100, "198.18.1.3:80"), RealHealth{Up: true, Weight: 2, WeightSet: true})
			}, nil,
			[]string{"198.18.1.2:80=0", "198.18.1.3:80=5", "198.18.1.4:80=1"}},
		{"nil: back to the configured (here dynamic) weight",
			func() error { return d.SetRuntimeWeight(ref(vs100, "198.18.1.3:80"), nil) }, nil,
			[]string{"198.18.1.2:80=0", "198.18.1.3:80=2", "198.18.1.4:80=1"}},
		{"unknown service", func() error { return d.SetRuntimeWeight(ref(vs101, "198.18.1.3:80"), w(1)) }, ErrUnknownReal, nil},
		{"unknown VIP",
			func() error {
				return d.SetRuntimeWeight(RealRef{loader.Endpoint{Addr: netip.MustParseAddr("198.18.0.200"), Port: 80, Proto: loader.ProtoTCP}, netip.MustParseAddrPort("198.18.1.2:80")}, w(1))
			}, ErrUnknownService, nil},
		{"UDP at a TCP VIP:port is another service",
			func() error {
				return d.SetRuntimeWeight(RealRef{loader.Endpoint{Addr: vs100.Addr, Port: 80, Proto: loader.ProtoUDP}, netip.MustParseAddrPort("198.18.1.2:80")}, w(1))
			}, ErrUnknownService, nil},
		{"out of range", func() error { return d.SetRuntimeWeight(ref(vs100, "198.18.1.4:80"), w(MaxWeight+1)) }, ErrWeightRange, nil},
		{"negative", func() error { return d.SetRuntimeWeight(ref(vs100, "198.18.1.4:80"), w(-1)) }, ErrWeightRange, nil},
		{"a reload drops runtime weights: the configuration rules again",
			func() error { return d.SetConfig(cfg, st) }, nil,
			[]string{"198.18.1.2:80=1", "198.18.1.3:80=2", "198.18.1.4:80=1"}},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			before := applies
			err := s.do()
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("error %v, want %v", err, s.wantErr)
			}
			if s.wantErr != nil {
				if applies != before {
					t.Errorf("a refused change applied a new state")
				}
				return
			}
			if got := weights(applied, vs100); !slices.Equal(got, s.want) {
				t.Errorf("VS .100 reals %v, want %v", got, s.want)
			}
		})
	}
	if _, set := d.RuntimeWeight(ref(vs100, "198.18.1.2:80")); set {
		t.Error("RuntimeWeight still set after a reload")
	}
	if got := d.ServicesAt(netip.MustParseAddrPort("198.18.0.100:80")); !slices.Equal(got, []loader.Endpoint{vs100}) {
		t.Errorf("ServicesAt(198.18.0.100:80) = %v, want [%v]", got, vs100)
	}
	if got := d.ConfiguredReals(); len(got) != 4 || got[0] != ref(vs100, "198.18.1.2:80") || got[3] != ref(vs101, "198.18.1.2:80") {
		t.Errorf("ConfiguredReals = %v, want the 3 reals of .100 then the one of .101", got)
	}
	if cw, err := d.ConfiguredWeight(ref(vs100, "198.18.1.3:80")); err != nil || cw != 1 {
		t.Errorf("ConfiguredWeight = %d, %v; want 1", cw, err)
	}
}
