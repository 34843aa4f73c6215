using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Target;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Options;

/// <summary>Turns the validated <c>Nic</c>, <c>Offload</c> and <c>Policies</c> sections of emulator.json into the
/// offload target's options (docs/configuration.md, docs/target.md).</summary>
internal static class TargetOptionsBuilder
{
    public static OffloadTargetOptions Build(NicOptions nic, OffloadParametersOptions offload, PoliciesOptions policies)
    {
        var reasons = new HashSet<TcpUploadReason>();
        foreach (var reason in policies.ParsedRetrieveReasons()) reasons.Add((TcpUploadReason)(int)reason);
        var caps = nic.Capabilities;
        return new OffloadTargetOptions
        {
            MacAddress = string.IsNullOrWhiteSpace(nic.MacAddress) ? null : MacAddress.Parse(nic.MacAddress),
            Capabilities = new TcpConnectionOffloadCapabilities
            {
                TcpConnectionOffloadCapacity = (uint)caps.Capacity,
                SupportIPv4 = caps.Ipv4,
                SupportIPv6 = caps.Ipv6,
                SupportSack = caps.Sack,
                Encapsulation = Encapsulation(caps.Encapsulation),
            },
            Parameters = Parameters(offload),
            OptionalRetrieveReasons = reasons,
            TerminateSends = nic.ParsedTerminateSends(),
            BusyPollMicroseconds = nic.BusyPollMicroseconds,
            TransmitThread = nic.TransmitThread,
            VlanIds = nic.VlanIds is { Count: > 0 } vlans ? vlans.Select(v => (ushort)v).ToArray() : [],
        };
    }

    private static Chimney.OffloadEncapsulation Encapsulation(OffloadEncapsulation configured)
    {
        var result = Chimney.OffloadEncapsulation.NotSupported;
        if ((configured & OffloadEncapsulation.Ieee8023) != 0) result |= Chimney.OffloadEncapsulation.Ieee8023;
        if ((configured & OffloadEncapsulation.LlcSnapRouted) != 0) result |= Chimney.OffloadEncapsulation.IeeeLlcSnapRouted;
        return result;
    }

    /// <summary>The chimney parameters (spec §6.9) from the <c>Offload</c> section; the validator has checked the ranges.</summary>
    public static OffloadParameters Parameters(OffloadParametersOptions o) => new()
    {
        TicksPerSecond = (uint)o.TicksPerSecond,
        TcpAckFrequency = (byte)o.TcpAckFrequency,
        TcpDelayedAckTicks = (byte)o.TcpDelayedAckTicks,
        TcpMaximumRetransmissions = (byte)o.TcpMaximumRetransmissions,
        TcpDoubtReachabilityRetransmissions = (byte)o.TcpDoubtReachabilityRetransmissions,
        TcpSwsPreventionTicks = (uint)o.TcpSwsPreventionTicks,
        TcpDuplicateAckThreshold = (uint)o.TcpDuplicateAckThreshold,
        TcpPushTicks = (uint)o.TcpPushTicks,
        NceStaleTicks = (uint)o.NceStaleTicks,
    };
}
