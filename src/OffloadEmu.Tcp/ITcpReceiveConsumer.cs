namespace OffloadEmu.Tcp;

/// <summary>Takes in-order received data from the machine. It may accept all, part or none of what is offered; the
/// rest stays in the connection's bounded receive buffer (shrinking the advertised window) and is offered again by
/// <see cref="TcpMachine.DeliverBuffered"/>.</summary>
/// <remarks>Chimney spec §3: the offload target runs its delivery algorithm (posted receive requests, indications) on
/// top of this, so the consumer must be free to refuse data.</remarks>
public interface ITcpReceiveConsumer
{
    /// <summary>Offers <paramref name="data"/> (in sequence order, never empty) and returns how many leading bytes were
    /// taken (0..data.Length). The span is only valid during the call.</summary>
    int Deliver(ReadOnlySpan<byte> data);

    /// <summary>Offered the in-order bytes <see cref="Deliver"/> left, only while the machine holds no other in-order
    /// bytes in its buffer (nothing it would have to deliver first): the consumer may copy leading bytes into storage of
    /// its own and return how many. They stay counted as buffered (the window stays closed for them, they are part of
    /// <see cref="TcpMachine.ReceiveBufferedBytes"/>) until <see cref="TcpMachine.ConsumeReceived"/> takes them or
    /// <see cref="TcpMachine.WriteHeldBytes"/> puts them back; they are always the oldest buffered bytes.</summary>
    /// <remarks>The offload target keeps them in the buffer of its next receive indication, so bytes an indication
    /// takes are copied once, not first into the ring and then out of it. The default holds nothing.</remarks>
    int Hold(ReadOnlySpan<byte> data) => 0;
}
