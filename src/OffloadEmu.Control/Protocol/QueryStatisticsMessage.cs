using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class QueryStatisticsMessage : ControlMessage
{
    public override MessageType Type => MessageType.QueryStatistics;
    public bool Ipv6 { get; init; }

    public override void WritePayload(ref MessageWriter w) => w.Bool(Ipv6);
}
