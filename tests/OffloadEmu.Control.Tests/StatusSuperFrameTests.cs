using System.Buffers;
using System.Diagnostics;
using OffloadEmu.Control.Client;
using OffloadEmu.Control.Protocol;
using OffloadEmu.Control.Server;
using OffloadEmu.Control.Status;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Control.Tests;

/// <summary>The segmentation-offload section of StatusInfo (protocol version 4, docs/control.md): the mode and the
/// device's and the target's super-frame counters survive the wire, are written only to sessions of version 4 (a
/// version-3 client gets the loops and nothing after them, as it always did), and a broken section is malformed. The
/// Lua dissector shows the version-3 loop section and this one.</summary>
public sealed class StatusSuperFrameTests
{
    private static readonly LoopStatus[] s_loops = [new(2, 1_000, 2_000, 30, 1), new(1, 4_000, 5_000, 0, 0)];
    private static readonly SegmentationOffloadStatus s_on = new(true, 11_111, 22_222, 10_987, 21_098);

    private static StatusInfoMessage Decode(byte[] bytes)
    {
        var seq = new ReadOnlySequence<byte>(bytes);
        Assert.True(ControlMessage.TryReadFrame(ref seq, int.MaxValue, out var type, out _, out var payload));
        return (StatusInfoMessage)ControlMessage.Decode(type, 1, payload);
    }

    [Fact]
    public void The_section_keeps_the_mode_and_every_counter_and_without_it_the_reply_is_the_version_3_reply()
    {
        for (int seed = 0; seed < 20; seed++)
        {
            var counters = new SegmentationOffloadStatus(seed % 2 == 0, (ulong)seed * 7, ulong.MaxValue - (ulong)seed, (ulong)seed, 1UL << seed);
            var snapshot = new RandomMessages(seed).Status() with { Loops = s_loops[..(seed % 3)], DeviceQueues = seed % 3, SegmentationOffload = counters };
            var decoded = Decode(new StatusInfoMessage { Snapshot = snapshot, IncludeLoops = true, IncludeSuperFrames = true }.ToArray());
            Assert.True(decoded.IncludeLoops);
            Assert.True(decoded.IncludeSuperFrames);
            Assert.Equal(counters, decoded.Snapshot.SegmentationOffload);
            Assert.Equal(snapshot.Loops, decoded.Snapshot.Loops);
            Assert.Equal(snapshot.Connections, decoded.Snapshot.Connections);

            // A version-3 session: byte for byte the reply without the section, which decodes with no mode known.
            var v3 = new StatusInfoMessage { Snapshot = snapshot, IncludeLoops = true }.ToArray();
            Assert.Equal(new StatusInfoMessage { Snapshot = snapshot with { SegmentationOffload = null }, IncludeLoops = true }.ToArray(), v3);
            var old = Decode(v3);
            Assert.True(old.IncludeLoops);
            Assert.False(old.IncludeSuperFrames);
            Assert.Null(old.Snapshot.SegmentationOffload);
            Assert.Equal(snapshot.Loops, old.Snapshot.Loops);

            // Not even loops (version 1 or 2): the section is not written either.
            Assert.Equal(new StatusInfoMessage { Snapshot = snapshot with { Loops = [], DeviceQueues = 0, SegmentationOffload = null } }.ToArray(),
                new StatusInfoMessage { Snapshot = snapshot, IncludeSuperFrames = true }.ToArray());
        }
    }

    [Theory]
    [InlineData("mode 2")]
    [InlineData("a byte after the section")]
    [InlineData("the section cut short")]
    public void A_broken_section_is_malformed(string broken)
    {
        var snapshot = new RandomMessages(3).Status() with { Loops = s_loops, DeviceQueues = 2, SegmentationOffload = s_on };
        byte[] payload = new StatusInfoMessage { Snapshot = snapshot, IncludeLoops = true, IncludeSuperFrames = true }.ToArray()[ControlProtocol.HeaderSize..];
        int at = payload.Length - StatusInfoMessage.SuperFrameSectionSize;
        Assert.Equal(1, payload[at]);
        switch (broken)
        {
            case "mode 2": payload[at] = 2; break;
            case "a byte after the section": payload = [.. payload, 0]; break;
            case "the section cut short": payload = payload[..^1]; break;
        }
        var ex = Assert.Throws<ControlProtocolException>(() => ControlMessage.Decode(MessageType.StatusInfo, 1, new ReadOnlySequence<byte>(payload)));
        Assert.Equal(ProtocolError.Malformed, ex.Error);
    }

    [Fact]
    public async Task A_version_4_client_gets_the_counters_and_a_version_3_client_the_loops_alone()
    {
        var source = new StatusSnapshot { Loops = s_loops, DeviceQueues = 2, SegmentationOffload = s_on };
        await using var lab = new LiveLab(new ControlServerOptions { StatusSource = (_, _) => Task.FromResult(source) });

        await using (var monitor = await RemoteOffloadTarget.ConnectAsync(lab.SocketPath, new RemoteOffloadTargetOptions { ClientName = "v4", Role = ClientRole.Monitor }))
        {
            Assert.Equal(ControlProtocol.SuperFrameStatusVersion, monitor.ProtocolVersion);
            var status = await monitor.QueryStatusAsync();
            Assert.Equal(s_on, status.SegmentationOffload);
            Assert.Equal(s_loops, status.Loops);
        }

        using var raw = new RawClient(lab.SocketPath);
        raw.Send(new HelloMessage { ClientName = "v3", RequestId = 1, Version = ControlProtocol.LoopStatusVersion, Role = ClientRole.Monitor });
        raw.Send(new QueryStatusMessage { RequestId = 2 });
        var (messages, _) = raw.ReadUntilClosed(TimeSpan.FromSeconds(2));
        Assert.Equal(ControlProtocol.LoopStatusVersion, Assert.IsType<HelloReplyMessage>(messages[0]).Version);
        var info = Assert.IsType<StatusInfoMessage>(Assert.Single(messages, m => m is StatusInfoMessage));
        Assert.True(info.IncludeLoops);
        Assert.False(info.IncludeSuperFrames);   // nothing after the loops: a version-3 reader's End() passes
        Assert.Equal(s_loops, info.Snapshot.Loops);
        Assert.Null(info.Snapshot.SegmentationOffload);
    }

    [Fact]
    public void The_lua_dissector_shows_the_loop_section_and_the_super_frame_counters()
    {
        if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_TSHARK") == "1" && !File.Exists("/usr/bin/tshark")) return;
        var dir = Path.Combine(Path.GetTempPath(), "oe-stloop-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "status.pcapng");
        try
        {
            var snapshot = new RandomMessages(5).Status() with { Loops = s_loops, DeviceQueues = 2, SegmentationOffload = s_on };
            using (var writer = new PcapNgWriter(File.Create(file)))
            {
                int index = writer.AddInterface("control", ExportedPdu.LinkType);
                long t = DateTime.UtcNow.Ticks * 100;
                // 1: version 4 (loops and super-frames); 2: version 3 (loops only); 3: version 2 (neither).
                foreach (var (message, i) in new[]
                {
                    new StatusInfoMessage { RequestId = 7, Snapshot = snapshot, IncludeLoops = true, IncludeSuperFrames = true },
                    new StatusInfoMessage { RequestId = 8, Snapshot = snapshot, IncludeLoops = true },
                    new StatusInfoMessage { RequestId = 9, Snapshot = snapshot },
                }.Select((m, i) => (m, i)))
                {
                    writer.WriteFrame(index, t + i * 1000, ExportedPdu.Wrap(3, false, message.ToArray()), CaptureDirection.Outbound);
                }
            }
            string[] Fields(string filter, params string[] fields)
            {
                var args = new List<string> { "-X", "lua_script:" + Script(), "-r", file, "-Y", filter, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=," };
                foreach (var f in fields) { args.Add("-e"); args.Add(f); }
                var psi = new ProcessStartInfo("tshark", args) { RedirectStandardOutput = true, RedirectStandardError = true };
                using var tshark = Process.Start(psi)!;
                string output = tshark.StandardOutput.ReadToEnd();
                string errors = tshark.StandardError.ReadToEnd();
                tshark.WaitForExit();
                Assert.True(tshark.ExitCode == 0, errors);
                Assert.DoesNotContain("Lua", errors, StringComparison.Ordinal);
                return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            }

            // The loop section in the version-3 and version-4 replies, each loop's counters in order.
            var loops = Fields("offloademu.status.loops", "offloademu.request_id", "offloademu.status.device_queues", "offloademu.status.loops",
                "offloademu.loop.connections", "offloademu.loop.frames_in", "offloademu.loop.frames_out", "offloademu.loop.handed_off",
                "offloademu.loop.hand_off_drops", "_ws.col.Info");
            Assert.Equal(2, loops.Length);
            foreach (var (line, id) in loops.Zip(new[] { 7, 8 }))
            {
                var f = line.Split('\t');
                Assert.Equal(id.ToString(), f[0]);
                Assert.Equal("2", f[1]);
                Assert.Equal("2", f[2]);
                Assert.Equal("2,1", f[3]);
                Assert.Equal("1000,4000", f[4]);
                Assert.Equal("2000,5000", f[5]);
                Assert.Equal("30,0", f[6]);
                Assert.Equal("1,0", f[7]);
                Assert.Contains("2 loops over 2 queues", f[8], StringComparison.Ordinal);
            }

            // The super-frame counters only in the version-4 reply.
            var super = Assert.Single(Fields("offloademu.status.segmentation_offload", "offloademu.request_id", "offloademu.status.segmentation_offload",
                "offloademu.status.super_frames_in", "offloademu.status.super_frames_out", "offloademu.status.target_super_frames_in",
                "offloademu.status.target_super_frames_out", "_ws.col.Info"));
            Assert.Equal(["7", "1", "11111", "22222", "10987", "21098"], super.Split('\t')[..6]);
            Assert.Contains("segmentation offload: super-frames in 11111, out 22222", super, StringComparison.Ordinal);

            // The version-2 reply has neither, and nothing is malformed.
            Assert.Single(Fields("offloademu.request_id == 9 && !offloademu.status.loops", "offloademu.request_id"));
            Assert.Empty(Fields("_ws.malformed || _ws.expert.severity >= warning", "frame.number"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Script()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OffloadEmu.sln"))) dir = Path.GetDirectoryName(dir);
        return Path.Combine(dir ?? throw new InvalidOperationException("repository root not found"), "scripts", "wireshark", "offloademu.lua");
    }
}
