using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OffloadEmu.Cli.Session;

/// <summary>
/// The end of a <c>connect --parallel N</c> run: every stream's <see cref="TransferSummary"/> and their SUM, printed
/// iperf3-style (each stream's block, then a <c>[SUM]</c> block) or as one JSON object with <c>streams</c> and
/// <c>sum</c>. The SUM's bytes, offloads, uploads, cycles and host-mode retransmissions are the streams' added up; its
/// time is the run's (first stream's start to the last one's end), so its bitrate is the aggregate; the target's
/// retransmissions are counted per interface (spec §6.10) and appear only here, for all streams together.
/// </summary>
internal sealed record class ParallelSummary
{
    public required string Command { get; init; }
    public required string Mode { get; init; }
    public required string Link { get; init; }
    public required string Remote { get; init; }
    public required string Offload { get; init; }
    public long UploadEvery { get; init; }

    /// <summary>Streams asked for (<c>--parallel N</c>).</summary>
    public int Parallel { get; init; }

    /// <summary>The run's time: from the first stream's start to the last one's end.</summary>
    public double Seconds { get; init; }

    /// <summary>The streams that connected, in stream order.</summary>
    public required IReadOnlyList<TransferSummary> Streams { get; init; }

    /// <summary>Streams whose connect failed: their number and the error.</summary>
    public IReadOnlyList<(int Stream, string Error)> ConnectFailures { get; init; } = [];

    /// <summary>Segments the target retransmitted during the run (all streams).</summary>
    public ulong RetransmitsTarget { get; init; }

    public long SendCompletions { get; init; }
    public double SendCompletionP50Us { get; init; }
    public double SendCompletionP99Us { get; init; }
    public (long Out, long In)? SuperFrames { get; init; }

    public long BytesSent => Sum(static s => s.BytesSent);

    public long BytesReceived => Sum(static s => s.BytesReceived);

    public ulong RetransmitsHost
    {
        get
        {
            ulong n = 0;
            foreach (var s in Streams) n += s.RetransmitsHost;
            return n;
        }
    }

    public int Offloads => (int)Sum(static s => s.Offloads);

    public int Uploads => (int)Sum(static s => s.Uploads);

    public int HandOverCycles => (int)Sum(static s => s.HandOverCycles);

    /// <summary>Streams that failed, at connect or during the transfer.</summary>
    public int Failed
    {
        get
        {
            int n = ConnectFailures.Count;
            foreach (var s in Streams) if (s.Error is not null) n++;
            return n;
        }
    }

    /// <summary>Null when every stream went well, else "2 of 8 streams failed".</summary>
    public string? Error => Failed == 0 ? null : string.Create(CultureInfo.InvariantCulture, $"{Failed} of {Parallel} streams failed");

    private long Sum(Func<TransferSummary, long> f)
    {
        long n = 0;
        foreach (var s in Streams) n += f(s);
        return n;
    }

    /// <summary>Each stream's block, then the SUM block.</summary>
    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        foreach (var s in Streams) sb.Append(s.ToText());
        foreach (var (stream, error) in ConnectFailures)
        {
            sb.AppendLine("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -");
            sb.AppendLine(ci, $"{TransferSummary.StreamTag(stream)}{Command} -> {Remote}: not connected ({error})");
        }
        sb.AppendLine("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -");
        sb.AppendLine(ci, $"[SUM] {Command} {Parallel} streams -> {Remote} on {Link}, offload {Offload}");
        sb.AppendLine("Interval           Transfer      Bitrate            Retr");
        string interval = string.Create(ci, $"0.00-{Seconds:F2} sec");
        ulong retransmits = RetransmitsTarget + RetransmitsHost;
        sb.AppendLine(ci, $"{interval,-18} {TransferSummary.FormatBytes(BytesSent),-13} {TransferSummary.FormatBitrate(TransferSummary.Bitrate(BytesSent, Seconds)),-18} {retransmits,-6} sent");
        sb.AppendLine(ci, $"{interval,-18} {TransferSummary.FormatBytes(BytesReceived),-13} {TransferSummary.FormatBitrate(TransferSummary.Bitrate(BytesReceived, Seconds)),-18} {"",-6} received");
        sb.AppendLine(ci, $"bytes sent {BytesSent}, received {BytesReceived}; {Parallel} streams, {Parallel - Failed} ok, {Failed} failed");
        sb.Append(ci, $"offloads {Offloads}, uploads {Uploads}");
        if (UploadEvery > 0) sb.Append(ci, $", {HandOverCycles} upload/re-offload cycles");
        sb.AppendLine(ci, $"; retransmits {RetransmitsTarget} by the target, {RetransmitsHost} in host mode");
        if (SuperFrames is { } sf) sb.AppendLine(ci, $"segmentation offload: {sf.Out} super-segments sent, {sf.In} super-frames received");
        if (SendCompletions > 0)
            sb.AppendLine(ci, $"offloaded send -> completion: {SendCompletions} sends, p50 {SendCompletionP50Us:F0} us, p99 {SendCompletionP99Us:F0} us");
        return sb.ToString();
    }

    /// <summary>One JSON object (one line).</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("command", Command);
            w.WriteString("mode", Mode);
            w.WriteString("link", Link);
            w.WriteString("remote", Remote);
            w.WriteString("offload", Offload);
            w.WriteNumber("upload_every", UploadEvery);
            w.WriteNumber("parallel", Parallel);
            w.WriteStartArray("streams");
            foreach (var s in Streams) s.WriteJson(w);
            w.WriteEndArray();
            w.WriteStartArray("connect_errors");
            foreach (var (stream, why) in ConnectFailures)
            {
                w.WriteStartObject();
                w.WriteNumber("stream", stream);
                w.WriteString("error", why);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("sum");
            w.WriteNumber("streams", Parallel);
            w.WriteNumber("streams_failed", Failed);
            w.WriteNumber("seconds", Math.Round(Seconds, 6));
            w.WriteNumber("bytes_sent", BytesSent);
            w.WriteNumber("bytes_received", BytesReceived);
            w.WriteNumber("bits_per_second_sent", Math.Round(TransferSummary.Bitrate(BytesSent, Seconds)));
            w.WriteNumber("bits_per_second_received", Math.Round(TransferSummary.Bitrate(BytesReceived, Seconds)));
            w.WriteNumber("retransmits", RetransmitsTarget + RetransmitsHost);
            w.WriteNumber("retransmits_target", RetransmitsTarget);
            w.WriteNumber("retransmits_host", RetransmitsHost);
            w.WriteNumber("offloads", Offloads);
            w.WriteNumber("uploads", Uploads);
            w.WriteNumber("upload_cycles", HandOverCycles);
            w.WriteEndObject();
            if (SuperFrames is { } sf)
            {
                w.WriteNumber("super_frames_out", sf.Out);
                w.WriteNumber("super_frames_in", sf.In);
            }
            w.WriteStartObject("send_completion_us");
            w.WriteNumber("count", SendCompletions);
            w.WriteNumber("p50", SendCompletionP50Us);
            w.WriteNumber("p99", SendCompletionP99Us);
            w.WriteEndObject();
            if (Error is { } error) w.WriteString("error", error);
            else w.WriteNull("error");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
