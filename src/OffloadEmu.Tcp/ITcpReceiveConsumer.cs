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
}
