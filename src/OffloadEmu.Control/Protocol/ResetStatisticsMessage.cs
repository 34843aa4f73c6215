using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class ResetStatisticsMessage : ControlMessage
{
    public override MessageType Type => MessageType.ResetStatistics;
    public bool Ipv6 { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.Bool(Ipv6);
}
