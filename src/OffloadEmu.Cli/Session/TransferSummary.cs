using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OffloadEmu.Cli.Session;

/// <summary>The figures of one connection at its end, printed iperf3-style or as one JSON object.</summary>
internal sealed record class TransferSummary
{
    public required string Command { get; init; }
    public required string Mode { get; init; }
    public required string Link { get; init; }
    public required string Local { get; init; }
    public required string Remote { get; init; }
    public required string Offload { get; init; }
    public long UploadEvery { get; init; }
    public double Seconds { get; init; }
    public long BytesSent { get; init; }
    public long BytesReceived { get; init; }
    public ulong RetransmitsTarget { get; init; }
    public ulong RetransmitsHost { get; init; }
    public int Offloads { get; init; }
    public int Uploads { get; init; }
    public int HandOverCycles { get; init; }
    public double HandOverCycleSeconds { get; init; }
    public double SecondsHost { get; init; }
    public double SecondsOffloaded { get; init; }
    public double SecondsHandOver { get; init; }
    public string FinalLocation { get; init; } = "";
    public bool? EchoOk { get; init; }
    public string? Sha256Sent { get; init; }
    public string? Sha256Received { get; init; }
    public string? Error { get; init; }

    /// <summary>Offloaded sends completed (the stack's, this process), and the time from request to completion.</summary>
    public long SendCompletions { get; init; }
    public double SendCompletionP50Us { get; init; }
    public double SendCompletionP99Us { get; init; }
    /// <summary>Segmentation offload (embedded): super-segments sent and super-frames received; null when off.</summary>
    public (long Out, long In)? SuperFrames { get; init; }

    /// <summary>The stream's number (1..N) in a <c>--parallel</c> run; null for a connection of its own.</summary>
    public int? Stream { get; init; }

    /// <summary>True for a stream of a <c>--parallel</c> run: the target counts retransmissions per interface (spec
    /// §6.10), not per connection, so the streams' share cannot be told apart; <see cref="RetransmitsTarget"/> is then
    /// 0 and the run's figure is in the SUM.</summary>
    public bool TargetRetransmitsShared { get; init; }

    public ulong Retransmits => RetransmitsTarget + RetransmitsHost;

    /// <summary>"[ 1] " for a stream of a parallel run, "" otherwise.</summary>
    public string Tag => Stream is { } n ? StreamTag(n) : "";

    /// <summary>"[ 1] ", "[12] ": iperf3's stream prefix.</summary>
    public static string StreamTag(int stream) => string.Create(CultureInfo.InvariantCulture, $"[{stream,2}] ");

    public static double Bitrate(long bytes, double seconds) => seconds > 0 ? bytes * 8 / seconds : 0;

    /// <summary>The iperf3-like text block.</summary>
    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -");
        sb.AppendLine(ci, $"{Tag}{Command} {Local} -> {Remote} on {Link}, offload {Offload}");
        sb.AppendLine("Interval           Transfer      Bitrate            Retr");
        string interval = string.Create(ci, $"0.00-{Seconds:F2} sec");
        sb.AppendLine(ci, $"{interval,-18} {FormatBytes(BytesSent),-13} {FormatBitrate(Bitrate(BytesSent, Seconds)),-18} {Retransmits,-6} sent");
        sb.AppendLine(ci, $"{interval,-18} {FormatBytes(BytesReceived),-13} {FormatBitrate(Bitrate(BytesReceived, Seconds)),-18} {"",-6} received");
        sb.AppendLine(ci, $"bytes sent {BytesSent}, received {BytesReceived}");
        sb.Append(ci, $"offloads {Offloads}, uploads {Uploads}");
        if (UploadEvery > 0)
        {
            sb.Append(ci, $", {HandOverCycles} upload/re-offload cycles (every {FormatBytes(UploadEvery)}");
            if (HandOverCycles > 0) sb.Append(ci, $", {1000 * HandOverCycleSeconds / HandOverCycles:F1} ms each on average");
            sb.Append(')');
        }
        if (TargetRetransmitsShared) sb.AppendLine(ci, $"; retransmits {RetransmitsHost} in host mode (the target's: all streams together, in the SUM)");
        else sb.AppendLine(ci, $"; retransmits {RetransmitsTarget} by the target, {RetransmitsHost} in host mode");
        if (SuperFrames is { } sf) sb.AppendLine(ci, $"segmentation offload: {sf.Out} super-segments sent, {sf.In} super-frames received");
        double total = Math.Max(SecondsHost + SecondsOffloaded + SecondsHandOver, 1e-9);
        sb.AppendLine(ci, $"lived (sampled every 50 ms): offloaded {SecondsOffloaded:F2} s ({100 * SecondsOffloaded / total:F0}%), host {SecondsHost:F2} s ({100 * SecondsHost / total:F0}%), in hand-over {SecondsHandOver:F2} s ({100 * SecondsHandOver / total:F0}%); last data moved while {FinalLocation}");
        // The histogram is the process's: a stream of a parallel run leaves it to the SUM.
        if (SendCompletions > 0 && Stream is null)
            sb.AppendLine(ci, $"offloaded send -> completion: {SendCompletions} sends, p50 {SendCompletionP50Us:F0} us, p99 {SendCompletionP99Us:F0} us");
        if (EchoOk is { } ok && Sha256Sent is null)
            sb.AppendLine(ok ? $"pattern check: OK, SHA-256 {Sha256Received}" : $"pattern check: MISMATCH, received SHA-256 {Sha256Received}");
        else if (EchoOk is { } echoOk)
            sb.AppendLine(echoOk ? $"echo check: OK, SHA-256 {Sha256Received}" : $"echo check: MISMATCH, sent SHA-256 {Sha256Sent}, received {Sha256Received}");
        return sb.ToString();
    }

    /// <summary>One JSON object (one line).</summary>
    public string ToJson()
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) WriteJson(w);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Writes the object (a stream of a parallel run also has <c>stream</c>, and <c>retransmits_target</c>
    /// null: see <see cref="TargetRetransmitsShared"/>).</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        {
            w.WriteStartObject();
            if (Stream is { } stream) w.WriteNumber("stream", stream);
            w.WriteString("command", Command);
            w.WriteString("mode", Mode);
            w.WriteString("link", Link);
            w.WriteString("local", Local);
            w.WriteString("remote", Remote);
            w.WriteString("offload", Offload);
            w.WriteNumber("upload_every", UploadEvery);
            w.WriteNumber("seconds", Math.Round(Seconds, 6));
            w.WriteNumber("bytes_sent", BytesSent);
            w.WriteNumber("bytes_received", BytesReceived);
            w.WriteNumber("bits_per_second_sent", Math.Round(Bitrate(BytesSent, Seconds)));
            w.WriteNumber("bits_per_second_received", Math.Round(Bitrate(BytesReceived, Seconds)));
            w.WriteNumber("retransmits", Retransmits);
            if (TargetRetransmitsShared) w.WriteNull("retransmits_target");
            else w.WriteNumber("retransmits_target", RetransmitsTarget);
            w.WriteNumber("retransmits_host", RetransmitsHost);
            w.WriteNumber("offloads", Offloads);
            w.WriteNumber("uploads", Uploads);
            w.WriteNumber("upload_cycles", HandOverCycles);
            w.WriteNumber("upload_cycle_seconds", Math.Round(HandOverCycleSeconds, 6));
            if (SuperFrames is { } sf)
            {
                w.WriteNumber("super_frames_out", sf.Out);
                w.WriteNumber("super_frames_in", sf.In);
            }
            w.WriteStartObject("lived_seconds");
            w.WriteNumber("offloaded", Math.Round(SecondsOffloaded, 6));
            w.WriteNumber("host", Math.Round(SecondsHost, 6));
            w.WriteNumber("hand_over", Math.Round(SecondsHandOver, 6));
            w.WriteEndObject();
            w.WriteString("final_location", FinalLocation);
            w.WriteStartObject("send_completion_us");
            w.WriteNumber("count", SendCompletions);
            w.WriteNumber("p50", SendCompletionP50Us);
            w.WriteNumber("p99", SendCompletionP99Us);
            w.WriteEndObject();
            if (EchoOk is { } patternOk && Sha256Sent is null)
            {
                w.WriteStartObject("pattern_check");
                w.WriteBoolean("ok", patternOk);
                w.WriteString("sha256_received", Sha256Received);
                w.WriteEndObject();
            }
            else if (EchoOk is { } ok)
            {
                w.WriteStartObject("echo_check");
                w.WriteBoolean("ok", ok);
                w.WriteString("sha256_sent", Sha256Sent);
                w.WriteString("sha256_received", Sha256Received);
                w.WriteEndObject();
            }
            if (Error is null) w.WriteNull("error");
            else w.WriteString("error", Error);
            w.WriteEndObject();
        }
    }

    public static string FormatBytes(long bytes)
    {
        var ci = CultureInfo.InvariantCulture;
        return bytes switch
        {
            >= 1L << 30 => string.Create(ci, $"{bytes / (double)(1L << 30):F2} GiB"),
            >= 1L << 20 => string.Create(ci, $"{bytes / (double)(1L << 20):F1} MiB"),
            >= 1L << 10 => string.Create(ci, $"{bytes / 1024.0:F1} KiB"),
            _ => string.Create(ci, $"{bytes} B"),
        };
    }

    public static string FormatBitrate(double bitsPerSecond)
    {
        var ci = CultureInfo.InvariantCulture;
        return bitsPerSecond switch
        {
            >= 1e9 => string.Create(ci, $"{bitsPerSecond / 1e9:F2} Gbits/sec"),
            >= 1e6 => string.Create(ci, $"{bitsPerSecond / 1e6:F1} Mbits/sec"),
            >= 1e3 => string.Create(ci, $"{bitsPerSecond / 1e3:F1} Kbits/sec"),
            _ => string.Create(ci, $"{bitsPerSecond:F0} bits/sec"),
        };
    }
}
