namespace OffloadEmu.HostStack;

/// <summary>When the host stack hands an established connection to the offload target.</summary>
public enum OffloadPolicy
{
    /// <summary>Connections stay in host mode (the TCP machine of the host stack runs them).</summary>
    Never,

    /// <summary>Offload as soon as the handshake completed.</summary>
    AfterHandshake,

    /// <summary>Offload once <see cref="HostStackOptions.OffloadAfterBytes"/> bytes moved (sent plus received).</summary>
    AfterBytes,
}
