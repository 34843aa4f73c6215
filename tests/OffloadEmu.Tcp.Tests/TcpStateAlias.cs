// The machine's states are the chimney's TCP_OFFLOAD_STATE_DELEGATED.State values (RFC 793 order,
// spec §2), so import and export need no mapping. One enum serves both layers.
global using TcpState = OffloadEmu.Chimney.State.TcpState;
