package control

import (
	"testing"
	"time"

	"github.com/xlbproject/xlb/control/config"
	"github.com/xlbproject/xlb/loader"
)

func TestTimeouts(t *testing.T) {
	cfg, err := config.Parse("c.conf", []byte("global_defs {\n lvs_timeouts tcp 7200 udp 60\n}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tmo := TimeoutsOf(cfg)
	for _, tc := range []struct {
		state loader.ConnState
		want  time.Duration
	}{
		{loader.StateEstablished, 2 * time.Hour},
		{loader.StateFinWait, 120 * time.Second}, // not set: IPVS's default
		{loader.StateUDP, time.Minute},
		{loader.StateSynRecv, time.Minute},
		{loader.StateClose, 10 * time.Second},
		{loader.StateTimeWait, 2 * time.Minute},
		{loader.StateCloseWait, time.Minute},
		{loader.StateLastAck, 30 * time.Second},
		{loader.StateNone, 2 * time.Second},
	} {
		t.Run(tc.state.String(), func(t *testing.T) {
			if got := tmo.Of(tc.state); got != tc.want {
				t.Errorf("timeout of %s = %v, want %v", tc.state, got, tc.want)
			}
		})
	}
}
