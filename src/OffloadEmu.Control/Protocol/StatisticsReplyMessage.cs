using OffloadEmu.Chimney;
using OffloadEmu.Chimney.State;
using OffloadEmu.Wire;

namespace OffloadEmu.Control.Protocol;

internal sealed class StatisticsReplyMessage : ControlMessage
{
    public override MessageType Type => MessageType.StatisticsReply;
    public TcpOffloadStatisticsSnapshot Tcp { get; init; }
    public IpOffloadStatisticsSnapshot Ip { get; init; }

    public override void WritePayload(ref MessageWriter w)
    {
        WireCodec.TcpStatistics(ref w, Tcp);
        WireCodec.IpStatistics(ref w, Ip);
    }
}
