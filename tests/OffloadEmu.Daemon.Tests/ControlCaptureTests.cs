using System.Buffers.Binary;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OffloadEmu.Control;
using OffloadEmu.Control.Client;
using OffloadEmu.Daemon.Hosting;
using OffloadEmu.HostStack;
using OffloadEmu.Link.Capture;
using OffloadEmu.Link.Devices;
using OffloadEmu.Target;
using OffloadEmu.Wire;

namespace OffloadEmu.Daemon.Tests;

/// <summary>
/// The daemon mirrors every control message into its capture file as a second pcapng interface (link type 252,
/// exported PDU for the "offloademu" dissector), in time order with the wire frames (docs/control.md, "Capture"): a host
/// stack bound over the control socket offloads, moves data, uploads and re-offloads a connection to a peer on the
/// daemon's memory link, and the file shows both.
/// </summary>
public sealed partial class ControlCaptureTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string CaptureFile => _dir.File("cap.pcapng");

    [Fact]
    public async Task Control_messages_and_wire_frames_share_one_capture_in_time_order_and_tshark_dissects_and_filters_them()
    {
        string socket = _dir.File("control.sock");
        using var host = TestConfig.Build(_dir, TestConfig.MemoryJson,
            [$"--Capture:File={CaptureFile}", $"--Control:Endpoint={socket}", "--Nic:MacAddress=02:00:00:00:aa:03"]);
        await host.StartAsync();
        var controlCapture = host.Services.GetRequiredService<ControlCapture>();
        Assert.True(controlCapture.Attached);

        var peerLink = host.Services.GetRequiredService<LinkService>().Stack!.MemoryPeer!;
        var sent = new MemoryStream();
        var echoed = new MemoryStream();
        using (var peerTarget = new OffloadTarget(peerLink))
        {
            using var peerStack = new HostStack.HostStack(peerTarget, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 1), OffloadPolicy = OffloadPolicy.Never });
            peerTarget.Start();
            peerStack.Start();
            await using var remote = await RemoteOffloadTarget.ConnectAsync(socket, new RemoteOffloadTargetOptions { ClientName = "capture-test" });
            using var stack = new HostStack.HostStack(remote, new HostStackOptions { Address = new Ipv4Address(198, 18, 0, 2) });
            stack.Start();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

            var accept = peerStack.Listen(7).AcceptAsync(timeout.Token);
            var client = await stack.ConnectAsync(peerStack.Address, 7, timeout.Token).WaitAsync(timeout.Token);
            var peer = await accept.WaitAsync(timeout.Token);
            PeerIo.WaitFor(() => client.Location == ConnectionLocation.Offloaded, "the offload through the daemon");
            var echo = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int n;
                while ((n = await peer.Stream.ReadAsync(buffer, timeout.Token)) > 0) await peer.Stream.WriteAsync(buffer.AsMemory(0, n), timeout.Token);
                await peer.ShutdownAsync();
            });
            var reader = Task.Run(async () =>
            {
                var buffer = new byte[16384];
                int n;
                while ((n = await client.Stream.ReadAsync(buffer, timeout.Token)) > 0) echoed.Write(buffer, 0, n);
            });
            for (int round = 0; round < 3; round++)
            {
                var chunk = new byte[64 * 1024];
                new Random(round).NextBytes(chunk);
                sent.Write(chunk);
                await client.Stream.WriteAsync(chunk, timeout.Token);
                if (round == 0) await client.UploadAsync().WaitAsync(timeout.Token);
                if (round == 1) Assert.True(await client.OffloadAsync().WaitAsync(timeout.Token));
            }
            await client.ShutdownAsync().WaitAsync(timeout.Token);
            await Task.WhenAll(echo, reader).WaitAsync(timeout.Token);
        }
        Assert.Equal(sent.ToArray(), echoed.ToArray());
        await host.StopAsync();
        Assert.True(controlCapture.Queue.Written > 20, $"{controlCapture.Queue.Written} control messages written");
        Assert.Equal(0, controlCapture.Queue.Dropped);

        // The file: Ethernet frames on mem0, control messages on their own interface, in time order.
        var frames = CaptureReader.Open(CaptureFile).ReadAll().ToList();
        var control = frames.Where(f => f.Interface.LinkType == ExportedPdu.LinkType).ToList();
        Assert.All(control, f => Assert.Equal(ControlCapture.InterfaceName, f.InterfaceName));
        Assert.Contains(frames, f => f.Interface.LinkType == 1 && f.InterfaceName == "mem0");
        Assert.Equal(controlCapture.Queue.Written, control.Count);
        var types = new List<int>();
        foreach (var record in control)
        {
            Assert.True(ExportedPdu.TryUnwrap(record.Data.Span, out _, out bool fromClient, out var message));
            int type = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
            types.Add(type);
            Assert.Equal(fromClient ? CaptureDirection.Inbound : CaptureDirection.Outbound, record.Direction);
            Assert.Equal(fromClient, type < 64);
            Assert.Equal(ExportedPdu.HeaderLength + ExportedPdu.MessageLength(message), record.OriginalLength);
            // Bulk data is cut after the context and the first NBL's header; everything else is whole up to 16 KiB (an
            // initiate carrying outstanding send data, a terminate returning buffered bytes are cut there).
            if (type is 5 or 11 or 13 or 14 or 73 or 77) Assert.True(message.Length <= 16 + ExportedPdu.DataSnapLength, $"type {type}: {message.Length} bytes kept");
            else Assert.Equal(Math.Min(record.OriginalLength, ExportedPdu.HeaderLength + ControlCapture.MessageSnapLength), record.Data.Length);
        }
        foreach (int expected in new[] { 1, 64, 6, 68, 11, 69, 73, 7, 15 }) Assert.Contains(expected, types);
        Assert.Equal(2, types.Count(t => t == 6)); // offload, re-offload
        for (int i = 1; i < frames.Count; i++)
        {
            // Records are queued by the sessions' threads and written before the next frames: the file order is the time
            // order up to the moment between a frame's arrival and its write.
            Assert.True(frames[i].TimestampNs >= frames[i - 1].TimestampNs - 250_000_000,
                $"record {i} at {frames[i].TimestampNs} before record {i - 1} at {frames[i - 1].TimestampNs}");
        }

        // tshark with the dissector: the chimney calls and the TCP frames, and a filter by connection handle.
        string script = Path.Combine(RepoRoot(), "scripts", "wireshark", "offloademu.lua");
        string all = Cmd.Run("tshark", "-X", "lua_script:" + script, "-r", CaptureFile, "-n", "-T", "fields", "-e", "frame.interface_id", "-e", "_ws.col.Info");
        foreach (var call in new[] { "C->S Hello", "capture-test", "C->S InitiateOffload", "S->C StateComplete id=", "C->S TcpSend id=",
                     "S->C TcpSendComplete", "S->C ReceiveIndicate id=", "C->S TerminateOffload", "Terminate" })
            Assert.Contains(call, all);
        Assert.Matches(@"C->S TcpSend id=\d+ ctx=0x[0-9a-f]+ handle=0x[0-9a-f]+", all);
        Assert.Matches(@"S->C ReceiveIndicate id=\d+ handle=0x[0-9a-f]+", all);
        Assert.DoesNotContain("Malformed", all);
        Assert.DoesNotContain("Lua Error", all);
        string tcp = Cmd.Run("tshark", "-X", "lua_script:" + script, "-r", CaptureFile, "-n", "-Y", "tcp && tcp.port == 7", "-T", "fields", "-e", "frame.number");
        Assert.True(tcp.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length > 50, "TCP frames on the wire interface");

        var initiates = InitiateHandle().Matches(all).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, initiates.Count);
        Assert.NotEqual(initiates[0], initiates[1]);
        // The re-offload (the first one was uploaded before anything completed): its initiate and completion, sends (by
        // context) and their completions (by NBL id), indications and events (by handle), the forward and the
        // disconnect, and the terminate that released it; nothing of the first offload.
        string filtered = Cmd.Run("tshark", "-X", "lua_script:" + script, "-r", CaptureFile, "-n", "-Y", $"offloademu.handle == 0x{initiates[1]}",
            "-T", "fields", "-e", "_ws.col.Info");
        var lines = filtered.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var prefix in new[] { "C->S InitiateOffload", "S->C StateComplete id=", "C->S TcpSend ", "S->C TcpSendComplete", "S->C ReceiveIndicate",
                     "C->S ReceiveConsumed", "S->C TcpEvent", "C->S TerminateOffload" })
        {
            // The whole filtered list when one is missing (the collection in Assert.Contains's message is cut).
            if (!lines.Any(l => l.StartsWith(prefix, StringComparison.Ordinal)))
                Assert.Fail($"no '{prefix}' for the re-offload's handle 0x{initiates[1]}; the filter kept:\n{filtered}");
        }
        Assert.All(lines, l => Assert.DoesNotContain("handle=0x" + initiates[0], l + " "));
        Assert.True(lines.Length < control.Count, "the filter kept every control message");
    }

    [Fact]
    public async Task A_classic_pcap_capture_keeps_the_frames_and_mirrors_no_control_message()
    {
        string file = _dir.File("cap.pcap");
        using var host = TestConfig.Build(_dir, TestConfig.MemoryJson, [$"--Capture:File={file}", "--Capture:Format=pcap", $"--Control:Endpoint={_dir.File("c.sock")}"]);
        await host.StartAsync();
        Assert.False(host.Services.GetRequiredService<ControlCapture>().Attached);
        await using (var remote = await RemoteOffloadTarget.ConnectAsync(_dir.File("c.sock")))
        {
            Assert.True(remote.IsConnected);
        }
        PeerIo.Send(host.Services.GetRequiredService<LinkService>().Stack!.MemoryPeer!, TestFrames.ArpRequest(1));
        await Task.Delay(100);
        await host.StopAsync();
        Assert.Equal(0, host.Services.GetRequiredService<ControlCapture>().Queue.Enqueued);
        Assert.All(CaptureReader.Open(file).ReadAll().ToList(), f => Assert.Equal(1, f.Interface.LinkType));
    }

    [Fact]
    public void The_observer_allocates_nothing_per_message_and_drops_and_counts_when_the_queue_is_full()
    {
        var capture = new ControlCapture(TimeProvider.System) { Attached = true };
        var send = new byte[16 + 40_000]; // a TcpSend with its data: cut to the header and 128 bytes
        BinaryPrimitives.WriteUInt32LittleEndian(send, 40_000);
        BinaryPrimitives.WriteUInt16LittleEndian(send.AsSpan(4), 11);
        var tree = new byte[16 + 300]; // a StateComplete: kept whole
        BinaryPrimitives.WriteUInt32LittleEndian(tree, 300);
        BinaryPrimitives.WriteUInt16LittleEndian(tree.AsSpan(4), 68);
        for (int i = 0; i < 100; i++) // warm-up: both kinds of message
        {
            capture.OnMessage(1, true, send);
            capture.OnMessage(1, false, tree);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            capture.OnMessage(1, true, send);
            capture.OnMessage(1, false, tree);
        }
        // Per message: nothing. A one-off of the runtime on this thread (7,856 B once in a fresh-clone run at high load,
        // when the queue first filled) is allowed; any per-message allocation would be ≥ 24 B × 20,000 = 480 KB.
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated <= 16 * 1024, $"the observer allocated {allocated} B over 20,000 messages");
        // Half of the 8 MiB fills with about 15 000 records of 200-370 bytes: the rest were dropped and counted, the
        // queue did not grow.
        Assert.Equal(20_200, capture.Queue.Enqueued + capture.Queue.Dropped);
        Assert.True(capture.Queue.Dropped > 0, "nothing dropped");
        Assert.True(capture.Queue.Enqueued * (ExportedPdu.HeaderLength + 16 + 128) < ControlCapture.QueueBytes, $"{capture.Queue.Enqueued} records queued");
    }

    [GeneratedRegex(@"C->S InitiateOffload id=\d+ handle=0x([0-9a-f]+)")]
    private static partial Regex InitiateHandle();

    private static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OffloadEmu.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}
