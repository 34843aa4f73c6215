using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Parsers;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

namespace OffloadEmu.Benchmarks;

/// <summary>
/// What another .NET process (the daemon) holds, read through its diagnostics port (EventPipe, the same channel as
/// dotnet-counters and dotnet-gcdump): the bytes managed objects occupy after a full blocking GC that the session itself
/// induces (the runtime's GCHeapCollect keyword, as dotnet-gcdump uses; GCPerHeapHistory's objects size per generation), and the target's receive storage held now (the
/// <c>offloademu.target.receive_buffer_bytes</c> gauge of meter <c>OffloadEmu</c>).
/// </summary>
internal static class DaemonMemory
{
    /// <summary>The bytes of managed objects after a full GC and the receive buffer bytes the target holds, or -1 for what could not be read within <paramref name="timeout"/>.</summary>
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
            long objects = 0;
            bool perHeap = false;
            source.Clr.GCStart += e =>
            {
                depth = e.Depth;
                objects = 0;
                perHeap = false;
            };
            // Per heap, per generation (0, 1, 2, large, pinned): the bytes objects occupy after the GC, free space left
            // between them not counted (at 100,000 connections the generations' sizes carried megabytes of it: the
            // engine's dictionaries grew through large arrays that were freed).
            source.Clr.GCPerHeapHistory += e =>
            {
                if (depth != 2) return;
                for (int g = 0; g <= 4; g++)
                {
                    try
                    {
                        objects += e.GenData((Gens)g).ObjSizeAfter;
                        perHeap = true;
                    }
                    catch (Exception ex) when (ex is ArgumentOutOfRangeException or IndexOutOfRangeException or InvalidOperationException)
                    {
                    }
                }
            };
            source.Clr.GCHeapStats += e =>
            {
                // The induced GC is a full one; a gen-0/1 collection that happens to run first says nothing of the heap.
                // Without the per-heap figures, the generations' sizes (free space included).
                if (depth == 2 && live < 0)
                    live = perHeap ? objects : e.GenerationSize0 + e.GenerationSize1 + e.GenerationSize2 + e.GenerationSize3 + e.GenerationSize4;
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
