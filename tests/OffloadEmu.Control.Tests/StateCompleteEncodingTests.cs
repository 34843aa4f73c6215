using System.Buffers;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

/// <summary>What a state completion carries, and the encoder's own consistency check (the cause of the flaky re-offload
/// over the socket, see <see cref="HostStackReoffloadTests"/>).</summary>
public sealed class StateCompleteEncodingTests
{
    private static OffloadBlock TcpBlockWithSends(out NetBufferList head)
    {
        head = Nbls.Chain(Nbls.Pattern(3000, 1), 1000);
        var tail = head.Next!.Next!;
        return new OffloadBlock(OffloadBlockType.TcpOffloadState)
        {
            MiniportOffloadContext = new OffloadContextSlot { Context = 42 },
            NdisOffloadHandle = 7,
            Status = NdisStatus.Success,
            TcpDelegated = new TcpDelegatedState { State = TcpState.Established, SendDataHead = head, SendDataTail = tail },
            NetBufferListChain = head,
        };
    }

    private static StateCompleteMessage RoundTrip(StateCompleteMessage message)
    {
        var seq = new ReadOnlySequence<byte>(message.ToArray());
        Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out var id, out var payload));
        return (StateCompleteMessage)ControlMessage.Decode(type, id, payload);
    }

    [Theory]
    [InlineData(StateOperation.Initiate)]
    [InlineData(StateOperation.Update)]
    [InlineData(StateOperation.Invalidate)]
    [InlineData(StateOperation.Query)]
    public void A_completion_other_than_terminate_carries_no_nbl_even_when_the_block_still_links_its_chain(StateOperation operation)
    {
        // After a successful initiate the chain is the target's: it completes (relinks, advances) those NBLs on its
        // own thread while the completion is encoded, so the completion must not read them.
        var block = TcpBlockWithSends(out var head);
        var decoded = RoundTrip(new StateCompleteMessage { RequestId = 5, Operation = operation, Root = block });
        Assert.Equal(operation, decoded.Operation);
        Assert.Equal(42ul, decoded.Root.MiniportOffloadContext!.Context);
        Assert.Equal(NdisStatus.Success, decoded.Root.Status);
        Assert.Null(decoded.Root.NetBufferListChain);
        Assert.True(decoded.Root.Scratch is null or List<NblRef> { Count: 0 });
        Assert.Equal(TcpState.Established, decoded.Root.TcpDelegated!.State);
        Assert.Null(decoded.Root.TcpDelegated.BufferedData);
        Assert.Equal((-1, -1), decoded.Root.MiniportReserved is ValueTuple<int, int> t ? t : (-1, -1));
        Assert.Same(head, block.NetBufferListChain); // the block itself is left as it was
    }

    [Fact]
    public void A_terminate_completion_returns_the_send_chain_by_reference_with_head_and_tail()
    {
        var block = TcpBlockWithSends(out _);
        var decoded = RoundTrip(new StateCompleteMessage { RequestId = 5, Operation = StateOperation.Terminate, Root = block });
        var refs = Assert.IsType<List<NblRef>>(decoded.Root.Scratch);
        Assert.Equal(3, refs.Count);
        Assert.Equal((0, 2), decoded.Root.MiniportReserved);
    }

    [Fact]
    public void A_message_whose_objects_change_between_the_counting_and_the_writing_pass_throws_naming_its_type()
    {
        var message = new Shifting();
        var error = Assert.Throws<InvalidOperationException>(() => message.WriteTo(new ArrayBufferWriter<byte>()));
        Assert.Contains(nameof(MessageType.StateComplete), error.Message);
    }

    /// <summary>Writes one byte more on every pass, as a tree being completed by another thread would.</summary>
    private sealed class Shifting : ControlMessage
    {
        private int _passes;

        public override MessageType Type => MessageType.StateComplete;

        public override void WritePayload(ref MessageWriter w)
        {
            _passes++;
            for (int i = 0; i < _passes; i++) w.U8(0);
        }
    }
}
