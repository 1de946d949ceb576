package control

import (
	"strings"
	"testing"

	"github.com/xlbproject/xlb/control/config"
)

func TestNotActive(t *testing.T) {
	src := `virtual_server 198.18.0.100 80 {
    lvs_sched rr
    protocol TCP
    persistence_timeout 300
    real_server 198.18.1.2 80 {
        weight 1
        HTTP_GET {
            url {
                path /health
            }
        }
    }
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        198.18.0.100/32
    }
}
`
	cfg, err := config.Parse("x.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(NotActive(cfg), "\n")
	for _, want := range []string{
		"x.conf:1:1: virtual_server 198.18.0.100:80: persistence_timeout is not active yet",
		"x.conf:7:9: real_server 198.18.1.2:80 of 198.18.0.100:80: HTTP_GET health checking is not active yet",
		"x.conf:14:1: vrrp_instance VI_1: VRRP is not active yet",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("NotActive lacks %q; got:\n%s", want, got)
		}
	}

	plain, err := config.Parse("y.conf", []byte("virtual_server 198.18.0.100 80 {\n    lvs_sched rr\n    protocol TCP\n    real_server 198.18.1.2 80 {\n        weight 1\n    }\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := NotActive(plain); len(got) != 0 {
		t.Errorf("a plain config reports inactive parts: %q", got)
	}
}
