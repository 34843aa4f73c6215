using Microsoft.Extensions.Options;

namespace OffloadEmu.Daemon.Options;

/// <summary>Validates <see cref="OffloadParametersOptions"/> (chimney spec §6.8, §6.9).</summary>
internal sealed class OffloadParametersOptionsValidator : IValidateOptions<OffloadParametersOptions>
{
    public ValidateOptionsResult Validate(string? name, OffloadParametersOptions o)
    {
        var f = new List<string>();
        if (o.TicksPerSecond is not (10 or 100 or 1000))
        {
            f.Add($"Offload:TicksPerSecond: {o.TicksPerSecond} is not a chimney tick rate; use 10, 100 or 1000");
            return ValidateOptionsResult.Fail(f);   // every *Ticks check below depends on it
        }
        SettingChecks.Range(f, "Offload:TcpAckFrequency", o.TcpAckFrequency, 1, 255, " (1 = ACK every segment)");
        // RFC 1122 4.2.3.2: an ACK must not be delayed more than 0.5 s.
        int maxDelayedAck = o.TicksPerSecond / 2;
        SettingChecks.Range(f, "Offload:TcpDelayedAckTicks", o.TcpDelayedAckTicks, 1, maxDelayedAck,
            $" (at most 500 ms at {o.TicksPerSecond} ticks per second, RFC 1122)");
        SettingChecks.Range(f, "Offload:TcpMaximumRetransmissions", o.TcpMaximumRetransmissions, 1, 255);
        // Only meaningful against a valid maximum; a bad maximum has its own line already.
        if (o.TcpMaximumRetransmissions is >= 1 and <= 255
            && (o.TcpDoubtReachabilityRetransmissions < 1 || o.TcpDoubtReachabilityRetransmissions > o.TcpMaximumRetransmissions))
            f.Add($"Offload:TcpDoubtReachabilityRetransmissions: {o.TcpDoubtReachabilityRetransmissions} is out of range; use 1..Offload:TcpMaximumRetransmissions ({o.TcpMaximumRetransmissions})");
        // RFC 1122 4.2.3.4: the SWS override timeout is 0.1 to 1 s.
        SettingChecks.Range(f, "Offload:TcpSwsPreventionTicks", o.TcpSwsPreventionTicks, Math.Max(1, o.TicksPerSecond / 10), o.TicksPerSecond,
            $" (0.1 s to 1 s at {o.TicksPerSecond} ticks per second, RFC 1122)");
        SettingChecks.Range(f, "Offload:TcpDuplicateAckThreshold", o.TcpDuplicateAckThreshold, 1, 255, " (RFC 5681 uses 3)");
        SettingChecks.Range(f, "Offload:TcpPushTicks", o.TcpPushTicks, 1, 60 * o.TicksPerSecond, $" (up to 60 s at {o.TicksPerSecond} ticks per second)");
        SettingChecks.Range(f, "Offload:NceStaleTicks", o.NceStaleTicks, 1, int.MaxValue);
        return f.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(f);
    }
}
