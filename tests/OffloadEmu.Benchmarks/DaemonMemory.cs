using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// What another .NET process (the daemon) holds, read through its diagnostics port (EventPipe, the same channel as
/// dotnet-counters and dotnet-gcdump): the managed bytes alive after a full blocking GC that the session itself induces
/// (the runtime's GCHeapCollect keyword, as dotnet-gcdump uses), and the target's receive storage held now (the
/// <c>offloademu.target.receive_buffer_bytes</c> gauge of meter <c>OffloadEmu</c>).
/// </summary>
internal static class DaemonMemory
{
    /// <summary>The managed heap after a full GC (sum of the generations' sizes) and the receive buffer bytes the target holds, or -1 for what could not be read within <paramref name="timeout"/>.</summary>
    internal static (long LiveBytes, long ReceiveBufferBytes) Read(int pid, TimeSpan timeout)
    {
        long live = -1, buffers = -1;
        try
        {
            var client = new DiagnosticsClient(pid);
            var providers = new[]
            {
                new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational,
                    (long)(ClrTraceEventParser.Keywords.GC | ClrTraceEventParser.Keywords.GCHeapCollect)),
                new EventPipeProvider("System.Diagnostics.Metrics", EventLevel.Informational, 0x2 /* values */,
                    new Dictionary<string, string>
                    {
                        ["SessionId"] = "oe-bench-scale",
                        ["Metrics"] = "OffloadEmu\\offloademu.target.receive_buffer_bytes",
                        ["RefreshInterval"] = "1",
                        ["MaxTimeSeries"] = "100",
                        ["MaxHistograms"] = "10",
                    }),
            };
            using var session = client.StartEventPipeSession(providers, requestRundown: false);
            using var source = new EventPipeEventSource(session.EventStream);
            int depth = -1;
            source.Clr.GCStart += e => depth = e.Depth;
            source.Clr.GCHeapStats += e =>
            {
                // The induced GC is a full one; a gen-0/1 collection that happens to run first says nothing of the heap.
                // The generations' sizes after it (gen 0..2, large and pinned object heaps): the bytes of every object still
                // alive, plus whatever free space the GC left between them. (The bytes promoted in this GC are not a
                // measure of the heap: objects already in gen 2 are not promoted again.)
                if (depth == 2 && live < 0)
                    live = e.GenerationSize0 + e.GenerationSize1 + e.GenerationSize2 + e.GenerationSize3 + e.GenerationSize4;
            };
            source.Dynamic.All += e =>
            {
                if (e.ProviderName != "System.Diagnostics.Metrics" || e.EventName != "GaugeValuePublished") return;
                if (e.PayloadByName("instrumentName") as string != "offloademu.target.receive_buffer_bytes") return;
                if (double.TryParse(e.PayloadByName("lastValue") as string, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                    buffers = (long)v;
            };
            var reader = Task.Run(source.Process);
            var wait = System.Diagnostics.Stopwatch.StartNew();
            // (A daemon without the gauge, an older build, publishes none: the heap alone after a few more seconds.)
            while ((live < 0 || (buffers < 0 && wait.Elapsed < TimeSpan.FromSeconds(5))) && wait.Elapsed < timeout && !reader.IsCompleted)
                Thread.Sleep(50);
            session.Stop();
            reader.Wait(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is ServerNotAvailableException or UnsupportedCommandException or IOException or TimeoutException
                                       or InvalidOperationException or ServerErrorException)
        {
            Console.Error.WriteLine($"scale: the daemon's diagnostics port: {ex.Message}");
        }
        return (live, buffers);
    }
}
