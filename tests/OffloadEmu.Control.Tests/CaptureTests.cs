using System.Diagnostics;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Control.Tests;

public sealed class CaptureTests
{
    private sealed class CaptureObserver(PcapNgWriter writer, int index) : IControlMessageObserver
    {
        public int Count;

        public void OnMessage(long sessionId, bool fromClient, ReadOnlySpan<byte> message)
        {
            var bytes = ExportedPdu.Wrap(sessionId, fromClient, message);
            writer.WriteFrame(index, DateTime.UtcNow.Ticks * 100, bytes, fromClient ? CaptureDirection.Inbound : CaptureDirection.Outbound);
            Interlocked.Increment(ref Count);
        }
    }

    [Fact]
    public async Task Control_messages_mirrored_into_pcapng_are_shown_by_tshark_with_the_lua_dissector()
    {
        var dir = Path.Combine(Path.GetTempPath(), "oe-cap-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "control.pcapng");
        try
        {
            var stream = File.Create(file);
            var writer = new PcapNgWriter(stream);
            int index = writer.AddInterface("control", ExportedPdu.LinkType);
            var observer = new CaptureObserver(writer, index);
            await using (var lab = new LiveLab(new Server.ControlServerOptions
            {
                Observer = observer,
                ParametersSource = () => new TargetParameters { Parameters = OffloadParameters.ForTicksPerSecond(100), MinRto = TimeSpan.FromMilliseconds(200) },
            }))
            {
                var host = new TestHost();
                await using var client = lab.Connect(host, "capture-test");
                var (peer, machine) = lab.Establish(41001);
                var root = lab.BuildTree(machine, 0x100, out var tcp);
                client.InitiateOffload(root);
                Assert.True(host.WaitFor(h => h.Initiated.Contains(root), TimeSpan.FromSeconds(30)));
                client.TcpOffloadSend(tcp.MiniportOffloadContext!.Context, Nbls.Send(new byte[1000]));
                Assert.True(host.WaitFor(h => h.SendsCompleted.Count == 1, TimeSpan.FromSeconds(30)));
                lab.PeerSend(peer, new byte[500]);
                Assert.True(host.WaitFor(h => h.Received.Length == 500, TimeSpan.FromSeconds(30)));
                Assert.Equal(100u, client.QueryParameters()?.Parameters.TicksPerSecond);
                await Task.Delay(100);
            }
            writer.Dispose();
            Assert.True(observer.Count >= 6);

            // As the other projects' tshark tests: a missing tshark fails, unless OFFLOADEMU_SKIP_TSHARK=1.
            if (Environment.GetEnvironmentVariable("OFFLOADEMU_SKIP_TSHARK") == "1" && !File.Exists("/usr/bin/tshark")) return;
            var script = Path.Combine(FindRepoRoot(), "scripts", "wireshark", "offloademu.lua");
            var psi = new ProcessStartInfo("tshark", ["-X", "lua_script:" + script, "-r", file, "-T", "fields", "-e", "_ws.col.Info", "-e", "offloademu.context",
                "-e", "offloademu.params.min_rto_us"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var tshark = Process.Start(psi)!;
            string output = await tshark.StandardOutput.ReadToEndAsync();
            string errors = await tshark.StandardError.ReadToEndAsync();
            await tshark.WaitForExitAsync();
            Assert.True(tshark.ExitCode == 0, errors);
            Assert.Contains("C->S Hello id=", output);
            Assert.Contains("capture-test", output);
            Assert.Contains("S->C HelloReply", output);
            Assert.Contains("C->S InitiateOffload", output);
            Assert.Contains("S->C StateComplete", output);
            Assert.Contains("C->S TcpSend", output);
            Assert.Contains("S->C TcpSendComplete", output);
            Assert.Contains("S->C ReceiveIndicate", output);
            Assert.Contains("C->S QueryParameters", output);
            Assert.Matches(@"S->C ParametersReply id=\d+ 0x00000000 tick 100/s\t\t200000", output);
            Assert.DoesNotContain("Malformed", output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string FindRepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "OffloadEmu.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("repository root not found");
    }
}
