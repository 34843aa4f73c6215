using System.Buffers;
using OffloadEmu.Control.Protocol;

namespace OffloadEmu.Control.Tests;

public sealed class RoundTripTests
{
    public static TheoryData<MessageType> Types()
    {
        var data = new TheoryData<MessageType>();
        foreach (var t in RandomMessages.AllTypes) data.Add(t);
        return data;
    }

    private static ControlMessage Decode(byte[] bytes, out MessageType type, out ulong id)
    {
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out type, out id, out var payload));
        Assert.True(seq.IsEmpty);
        return ControlMessage.Decode(type, id, payload);
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Every_message_type_round_trips_encode_decode_encode_over_200_random_instances(MessageType type)
    {
        for (int seed = 0; seed < 200; seed++)
        {
            var original = new RandomMessages(seed * 31 + (int)type).Make(type);
            var bytes = original.ToArray();
            var decoded = Decode(bytes, out var decodedType, out var id);
            Assert.Equal(type, decodedType);
            Assert.Equal(original.RequestId, id);
            Assert.Equal(original.GetType(), decoded.GetType());
            var again = decoded.ToArray();
            Assert.Equal(bytes, again);
            decoded.Release();
        }
    }

    [Fact]
    public void A_tree_keeps_its_shape_states_contexts_and_chain_data()
    {
        var m = (StateRequestMessage)new RandomMessages(7).Make(MessageType.InitiateOffload);
        var decoded = (StateRequestMessage)Decode(m.ToArray(), out _, out _);
        var a = OffloadTree.Traverse(m.Root).ToList();
        var b = OffloadTree.Traverse(decoded.Root).ToList();
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            var x = a[i].Block;
            var y = b[i].Block;
            Assert.Equal(a[i].Depth, b[i].Depth);
            Assert.Equal(x.Type, y.Type);
            Assert.Equal(x.Status, y.Status);
            Assert.Equal(x.MiniportOffloadContext?.Context, y.MiniportOffloadContext?.Context);
            Assert.Equal(x.NdisOffloadHandle, y.NdisOffloadHandle);
            Assert.Equal(x.NeighborConst, y.NeighborConst);
            Assert.Equal(x.NeighborCached, y.NeighborCached);
            Assert.Equal(x.PathConst, y.PathConst);
            Assert.Equal(x.TcpConst, y.TcpConst);
            Assert.Equal(x.TcpCached, y.TcpCached);
            Assert.Equal(x.TcpDelegated?.RcvNxt, y.TcpDelegated?.RcvNxt);
            Assert.Equal(x.TcpDelegated?.Retransmit, y.TcpDelegated?.Retransmit);
            Assert.Equal(Flatten(x.NetBufferListChain), Flatten(y.NetBufferListChain));
            Assert.Equal(Flatten(x.TcpDelegated?.BufferedData), Flatten(y.TcpDelegated?.BufferedData));
            if (y.TcpDelegated is { SendDataHead: not null } d) Assert.Same(y.NetBufferListChain, d.SendDataHead);
        }
        decoded.Release();
    }

    private static byte[] Flatten(NetBufferList? chain)
    {
        var bytes = new byte[NetBufferListChain.GetDataLength(chain)];
        NetBufferListChain.CopyTo(chain, 0, bytes);
        return bytes;
    }

    [Fact]
    public void Every_truncation_of_a_valid_payload_is_malformed_never_another_exception()
    {
        foreach (var type in RandomMessages.AllTypes)
        {
            var bytes = new RandomMessages(99).Make(type).ToArray();
            int payload = bytes.Length - ControlProtocol.HeaderSize;
            for (int cut = 0; cut < payload; cut += Math.Max(1, payload / 50))
            {
                var seq = new ReadOnlySequence<byte>(bytes, ControlProtocol.HeaderSize, cut);
                var ex = Assert.Throws<ControlProtocolException>(() => ControlMessage.Decode(type, 1, seq));
                Assert.Equal(ProtocolError.Malformed, ex.Error);
            }
        }
    }

    [Fact]
    public void Oversized_length_is_refused_from_the_header_alone()
    {
        var header = new byte[ControlProtocol.HeaderSize];
        ControlMessage.WriteHeader(header, 5_000_000, MessageType.TcpSend, 1);
        var seq = new ReadOnlySequence<byte>(header);
        var ex = Assert.Throws<ControlProtocolException>(() => ControlMessage.TryReadFrame(ref seq, 4 * 1024 * 1024, out _, out _, out _));
        Assert.Equal(ProtocolError.Oversized, ex.Error);
    }
}
