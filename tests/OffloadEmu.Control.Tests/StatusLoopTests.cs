using System.Buffers;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Server;
using OffloadEmu.Control.Status;

namespace OffloadEmu.Control.Tests;

/// <summary>The engine loops in StatusInfo (protocol version 3, docs/control.md): the section keeps every loop's
/// counters across the wire, is written only to sessions of version 3 or later (a version-2 client reads the reply it
/// always read), and a broken section is malformed.</summary>
public sealed class StatusLoopTests
{
    private static readonly LoopStatus[] s_loops =
    [
        new(5, 123_456, 234_567, 17, 0),
        new(3, ulong.MaxValue, 1, 0, 9),
        new(0, 0, 0, 0, 0),
    ];

    private static StatusSnapshot Decode(byte[] bytes, out bool hadLoops)
    {
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out _, out var payload));
        var message = (StatusInfoMessage)ControlMessage.Decode(type, 1, payload);
        hadLoops = message.IncludeLoops;
        return message.Snapshot;
    }

    [Fact]
    public void The_loop_section_keeps_every_loop_and_without_it_the_reply_is_the_version_2_reply()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var snapshot = new RandomMessages(seed).Status() with { Loops = s_loops[..(seed % 4)], DeviceQueues = seed % 3 };
            var decoded = Decode(new StatusInfoMessage { Snapshot = snapshot, IncludeLoops = true }.ToArray(), out bool hadLoops);
            Assert.True(hadLoops);
            Assert.Equal(snapshot.Loops, decoded.Loops);
            Assert.Equal(snapshot.DeviceQueues, decoded.DeviceQueues);
            Assert.Equal(snapshot.Connections, decoded.Connections);

            // Not asked for (a version 1 or 2 session): byte for byte what a snapshot without loops gives, i.e. what
            // an older client parses, and nothing about loops comes out.
            var without = new StatusInfoMessage { Snapshot = snapshot }.ToArray();
            Assert.Equal(new StatusInfoMessage { Snapshot = snapshot with { Loops = [], DeviceQueues = 0 } }.ToArray(), without);
            var old = Decode(without, out hadLoops);
            Assert.False(hadLoops);
            Assert.Empty(old.Loops);
            Assert.Equal(0, old.DeviceQueues);
        }
    }

    [Theory]
    [InlineData("65 loops")]
    [InlineData("65 device queues")]
    [InlineData("a byte after the section")]
    [InlineData("a loop cut short")]
    [InlineData("connections above 2^31")]
    public void A_broken_loop_section_is_malformed(string broken)
    {
        var snapshot = new RandomMessages(1).Status() with { Loops = s_loops, DeviceQueues = 3 };
        var bytes = new StatusInfoMessage { Snapshot = snapshot, IncludeLoops = true }.ToArray();
        int section = new StatusInfoMessage { Snapshot = snapshot }.ToArray().Length;   // where the section starts
        byte[] payload = bytes[ControlProtocol.HeaderSize..];
        int at = section - ControlProtocol.HeaderSize;
        switch (broken)
        {
            case "65 loops": BitConverter.TryWriteBytes(payload.AsSpan(at + 4), 65u); break;
            case "65 device queues": BitConverter.TryWriteBytes(payload.AsSpan(at), 65u); break;
            case "a byte after the section": payload = [.. payload, 0]; break;
            case "a loop cut short": payload = payload[..^3]; break;
            case "connections above 2^31": BitConverter.TryWriteBytes(payload.AsSpan(at + 8), 0x8000_0000u); break;
        }
        var ex = Assert.Throws<ControlProtocolException>(() => ControlMessage.Decode(MessageType.StatusInfo, 1, new ReadOnlySequence<byte>(payload)));
        Assert.Equal(ProtocolError.Malformed, ex.Error);
    }

    [Fact]
    public async Task A_version_3_client_gets_the_loops_and_a_version_2_client_the_reply_it_knows()
    {
        var source = new StatusSnapshot { Loops = s_loops, DeviceQueues = 3 };
        await using var lab = new LiveLab(new ControlServerOptions { StatusSource = (_, _) => Task.FromResult(source) });

        await using (var monitor = await RemoteOffloadTarget.ConnectAsync(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "v3", Role = ClientRole.Monitor }))
        {
            Assert.Equal(ControlProtocol.Version, monitor.ProtocolVersion);
            var status = await monitor.QueryStatusAsync();
            Assert.Equal(s_loops, status.Loops);
            Assert.Equal(3, status.DeviceQueues);
        }

        foreach (ushort version in new ushort[] { 1, 2 })
        {
            using var raw = new RawClient(lab.SocketPath);
            raw.Send(new HelloMessage { ClientName = "old", RequestId = 1, Version = version, Role = ClientRole.Monitor });
            raw.Send(new QueryStatusMessage { RequestId = 2 });
            var (messages, _) = raw.ReadUntilClosed(TimeSpan.FromSeconds(2));
            Assert.Equal(version, Assert.IsType<HelloReplyMessage>(messages[0]).Version);
            var info = Assert.IsType<StatusInfoMessage>(Assert.Single(messages, m => m is StatusInfoMessage));
            Assert.False(info.IncludeLoops);   // nothing after the connections: an older reader's End() passes
            Assert.Empty(info.Snapshot.Loops);
        }
    }
}
