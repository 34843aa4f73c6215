using OffloadEmu.Chimney;

namespace OffloadEmu.Control.Protocol;

/// <summary>The answer to <see cref="QueryParametersMessage"/>: status, the offload parameters, then the RTO floor and
/// ceiling, the FIN_WAIT_2 time and the challenge-ACK interval in microseconds (u64 each).</summary>
internal sealed class ParametersReplyMessage : ControlMessage
{
    /// <summary>Longest time carried (a day): anything above is malformed.</summary>
    private const ulong MaxMicroseconds = 86_400_000_000;

    public override MessageType Type => MessageType.ParametersReply;

    public required TargetParameters Parameters { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        var p = Parameters;
        w.U32((uint)p.Status);
        WireCodec.Parameters(ref w, p.Parameters);
        Time(ref w, p.MinRto);
        Time(ref w, p.MaxRto);
        Time(ref w, p.FinWait2Timeout);
        Time(ref w, p.ChallengeAckInterval);
    }

    public static ParametersReplyMessage Read(ref MessageReader r) => new()
    {
        Parameters = new TargetParameters
        {
            Status = WireCodec.Status(ref r), Parameters = WireCodec.Parameters(ref r),
            MinRto = Time(ref r), MaxRto = Time(ref r), FinWait2Timeout = Time(ref r), ChallengeAckInterval = Time(ref r),
        },
    };

    private static void Time(ref MessageWriter w, TimeSpan t) => w.U64((ulong)Math.Clamp(t.Ticks / 10, 0, (long)MaxMicroseconds));

    private static TimeSpan Time(ref MessageReader r)
    {
        ulong us = r.U64();
        if (us > MaxMicroseconds) throw MessageReader.Malformed("time above a day");
        return TimeSpan.FromTicks((long)us * 10);
    }
}
