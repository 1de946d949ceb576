package config

import (
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"global_defs {\n xdp_interface eth0 eth1\n xdp_mode native\n}\n",
		"virtual_server 198.18.0.1 80 {\n lvs_sched rr\n lvs_method DR\n protocol UDP\n real_server 198.18.1.1 80 {\n  weight 2\n }\n}\n",
		"virtual_server 2001:db8::1 80\n{\n real_server 2001:db8::2 { weight 0 }\n}\n",
		"}\n{\n\"unterminated\n virtual_server 1 2 3 {",
		"x \"a\\x41\\101\\cA\\q\" 'b c' # c\n! d\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, err := Parse("f.conf", src)
		if err == nil {
			if cfg == nil {
				t.Fatal("Parse returned neither config nor error")
			}
			return
		}
		if cfg != nil {
			t.Fatalf("Parse returned a config and error %v", err)
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("Parse error %T %v is not a non-empty ErrorList", err, err)
		}
		for _, e := range list {
			if e.Pos.File != "f.conf" || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Errorf("error %q has position %#v, want f.conf with line and column >= 1", e.Msg, e.Pos)
			}
		}
	})
}
