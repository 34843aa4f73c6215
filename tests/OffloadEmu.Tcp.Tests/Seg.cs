using OffloadEmu.Wire;

namespace OffloadEmu.Tcp.Tests;

/// <summary>A parsed segment as the tests compare it: the header value and the payload bytes.</summary>
internal readonly record struct Seg(TcpRepr Repr, byte[] Payload)
{
    public SeqNumber Seq => Repr.SequenceNumber;

    public SeqNumber? Ack => Repr.AckNumber;

    public TcpFlags Flags => Repr.Flags;

    public override string ToString() => Repr + (Payload.Length > 0 ? $" [{Payload.Length} bytes]" : "");
}
