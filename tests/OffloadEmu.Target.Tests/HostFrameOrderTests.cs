using System.Buffers.Binary;

namespace OffloadEmu.Target.Tests;

/// <summary>
/// Found by the host stack's end-to-end test against the Linux kernel (HostStackKernelEndToEndTests): the host's last
/// host-mode segments, sent with SendFrame just before it initiates the offload, reached the wire after the offloaded
/// connection's first ACKs. The engine handled the initiate, then the frames that had arrived (an ACK owed every second
/// segment goes out at once), and only then the host's frames: the kernel saw our ACK number and sequence fall back
/// (tshark: "previous segment not captured", then a "retransmission" of the host's last data).
/// </summary>
public sealed class HostFrameOrderTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Host_frames_sent_before_an_initiate_go_out_before_the_offloaded_connections_segments(int queues)
    {
        using var lab = new TargetLab(queues: queues);
        var host = lab.Establish();

        // Eight full segments from the peer wait on the link for the target's next round.
        lab.Peer.Enqueue(new MemorySendBuffer(Nbls.Pattern(8 * 1400, seed: 3)));
        var toTarget = new Injector(lab);
        lab.Peer.Dispatch(lab.Now, toTarget);
        Assert.True(toTarget.Count >= 4, $"the peer sent only {toTarget.Count} segments");

        // The host's last host-mode frame (a pure ACK), then the initiate.
        var ack = new TcpRepr
        {
            SourcePort = TargetLab.LocalPort,
            DestinationPort = TargetLab.RemotePort,
            SequenceNumber = host.SndNxt,
            AckNumber = host.RcvNxt,
            Flags = TcpFlags.Ack,
            Window = 1000,
        };
        var segment = new byte[ack.BufferLength];
        ack.Emit(segment, TargetLab.HostIp, TargetLab.PeerIp);
        Assert.Equal(NdisStatus.Success, lab.Api.SendFrame(lab.FrameFromHost(segment)));
        var root = lab.BuildTree(host, out var tcp);
        Assert.Equal(NdisStatus.Pending, lab.Api.InitiateOffload(root));
        lab.Step();
        // Several loops: a frame read on the queue of a loop polled after the owner reaches it one poll later.
        if (queues > 1) lab.Step();
        Assert.Equal(NdisStatus.Success, tcp.Status);

        var ids = lab.WireFromTarget.Select(f => BinaryPrimitives.ReadUInt16BigEndian(f.AsSpan(14 + 4))).ToList();
        Assert.True(ids.Count >= 2, $"only {ids.Count} frames on the wire");
        Assert.True(ids.Skip(1).Any(id => id >= 0x8000), "the offloaded connection sent nothing in that round");
        // The host's frame (IP-ID in the lower half, spec §5) is the first on the wire.
        Assert.True(ids[0] < 0x8000, $"wire order by IP-ID: {string.Join(", ", ids.Select(i => $"0x{i:x4}"))}");
    }

    private sealed class Injector(TargetLab lab) : ITcpSegmentWriter
    {
        private readonly byte[] _buffer = new byte[65_536];

        public int Count { get; private set; }

        public Span<byte> GetBuffer(int length) => _buffer.AsSpan(0, length);

        public void Commit(int length)
        {
            lab.Inject(lab.FrameFromPeer(_buffer.AsSpan(0, length)));
            Count++;
        }
    }
}
