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
    sh-fallback
    real_server 198.18.1.2 80 {
        weight 1
        uthreshold 100
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
    no_accept
    virtual_ipaddress {
        198.18.0.100/32 scope link
    }
}
`
	cfg, err := config.Parse("x.conf", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(NotActive(cfg), "\n")
	for _, want := range []string{
		"x.conf:1:1: virtual_server 198.18.0.100:80: sh-fallback/mh-fallback is not active yet",
		"x.conf:5:5: real_server 198.18.1.2:80 of 198.18.0.100:80: uthreshold and lthreshold are not active yet",
		"x.conf:15:1: vrrp_instance VI_1: no_accept is not active yet",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("NotActive lacks %q; got:\n%s", want, got)
		}
	}

	// Persistence, sh-port, health checking, inhibit_on_failure, notify
	// scripts, quorum, hysteresis, sorry_server, alpha, omega and ha_suspend
	// are active; so are VRRP instances, their trackers and sync groups.
	plain, err := config.Parse("y.conf", []byte(`virtual_server 198.18.0.100 80 {
    lvs_sched sh
    sh-port
    protocol TCP
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    quorum 2
    hysteresis 1
    quorum_up /bin/true
    quorum_down /bin/true
    sorry_server 198.18.1.9 80
    alpha
    omega
    ha_suspend
    real_server 198.18.1.2 80 {
        weight 1
        inhibit_on_failure
        notify_up /bin/true
        notify_down /bin/true
        HTTP_GET {
            url {
                path /health
            }
        }
        TCP_CHECK {
        }
        MISC_CHECK {
            misc_path /bin/true
            misc_dynamic
        }
    }
}
vrrp_script chk {
    script "/bin/true"
    weight -20
}
vrrp_track_file f {
    file /run/xlb-weight
}
vrrp_track_process p {
    process haproxy -f /etc/haproxy.cfg
    param_match initial
    full_command
    delay 2
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    track_script {
        chk weight 0
    }
    virtual_ipaddress {
        198.18.0.100/32 dev eth0 label eth0:vip
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    virtual_ipaddress {
        198.18.0.101/24 brd 198.18.0.255 scope site
    }
}
vrrp_sync_group G {
    group {
        VI_1
        VI_2
    }
    track_file {
        f
    }
    track_process {
        p
    }
    notify /bin/true
}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := NotActive(plain); len(got) != 0 {
		t.Errorf("a plain config reports inactive parts: %q", got)
	}
}
