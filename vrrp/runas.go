package vrrp

// RunAs is the user and group a script or notify program runs as
// (keepalived's script_user, or a vrrp_script's user); nil runs it as the
// daemon's own user. Supplementary groups are dropped.
type RunAs struct {
	UID, GID uint32
}
