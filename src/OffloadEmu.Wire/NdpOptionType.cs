namespace OffloadEmu.Wire;

/// <summary>Neighbor Discovery option types (RFC 4861 §4.6).</summary>
public enum NdpOptionType : byte
{
    /// <summary>Source link-layer address (§4.6.1).</summary>
    SourceLinkLayerAddress = 1,
    /// <summary>Target link-layer address (§4.6.1).</summary>
    TargetLinkLayerAddress = 2,
    /// <summary>Prefix information (§4.6.2).</summary>
    PrefixInformation = 3,
    /// <summary>Redirected header (§4.6.3).</summary>
    RedirectedHeader = 4,
    /// <summary>MTU (§4.6.4).</summary>
    Mtu = 5,
}
