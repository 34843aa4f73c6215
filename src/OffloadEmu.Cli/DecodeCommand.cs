using System.CommandLine;
using System.Text;
using System.Text.Json;
using OffloadEmu.Control;
using OffloadEmu.Link.Capture;
using OffloadEmu.Wire.Formatting;

namespace OffloadEmu.Cli;

/// <summary>
/// <c>offloademu decode -r FILE [-c N] [--json] [-S] [-e]</c>: prints a pcap or pcapng file one line
/// per frame with the fields of <c>tcpdump -nn -r FILE</c> (timestamps in UTC), or one JSON object
/// per frame. Malformed frames print a marker and decoding goes on; a corrupt file stops with a
/// clear message naming the offset and exit code 1. The daemon's control messages (a pcapng interface of
/// link type 252) print one summary line each.
/// </summary>
internal static class DecodeCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var read = new Option<FileInfo>("--read", "-r") { Description = "pcap or pcapng file to decode", Required = true };
        var count = new Option<int?>("--count", "-c") { Description = "stop after N frames" };
        var json = new Option<bool>("--json") { Description = "one JSON object per frame instead of text" };
        var absolute = new Option<bool>("--absolute-seq", "-S") { Description = "absolute TCP sequence numbers (tcpdump -S)" };
        var link = new Option<bool>("--link-header", "-e") { Description = "print the Ethernet header (tcpdump -e)" };
        var cmd = new Command("decode", "Print a capture the way tcpdump -nn -r does, or as JSON.") { read, count, json, absolute, link };
        cmd.SetAction(pr => Run(pr.GetValue(read)!, pr.GetValue(count), pr.GetValue(json), pr.GetValue(absolute), pr.GetValue(link), stdout, stderr));
        return cmd;
    }

    internal static int Run(FileInfo file, int? count, bool json, bool absolute, bool linkHeader, TextWriter stdout, TextWriter stderr)
    {
        if (!file.Exists)
        {
            stderr.WriteLine($"offloademu decode: {file.FullName}: no such file");
            return 2;
        }
        if (count is < 0)
        {
            stderr.WriteLine("offloademu decode: --count must be 0 or more");
            return 2;
        }
        CaptureReader reader;
        try
        {
            reader = CaptureReader.Open(file.FullName);
        }
        catch (CaptureFormatException ex)
        {
            stderr.WriteLine($"offloademu decode: {file.Name}: not a readable capture at offset {ex.Offset}: {ex.Message}");
            return 1;
        }
        catch (IOException ex)
        {
            stderr.WriteLine($"offloademu decode: {file.Name}: {ex.Message}");
            return 1;
        }

        var formatter = new TcpdumpFormatter(relativeSequenceNumbers: !absolute, linkLevelHeader: linkHeader);
        var line = new StringBuilder(256);
        using var jsonStream = json ? new MemoryStream() : null;
        using var jsonWriter = json ? new Utf8JsonWriter(jsonStream!) : null;
        int n = 0;
        try
        {
            while ((count is null || n < count) && reader.TryRead(out var frame))
            {
                n++;
                line.Clear();
                if (frame.Interface.LinkType == ExportedPdu.LinkType)
                {
                    // The daemon's control messages (docs/control.md, "Capture"): one line each; Wireshark dissects them.
                    line.Append(ExportedPdu.Describe(frame.Data.Span));
                }
                else if (frame.Interface.LinkType != PcapNgWriter.LinkTypeEthernet)
                {
                    line.Append("[unsupported link type ").Append(frame.Interface.LinkType).Append(']');
                }
                else
                {
                    formatter.Append(line, frame.Data.Span);
                }
                if (json)
                {
                    jsonStream!.SetLength(0);
                    jsonWriter!.Reset(jsonStream);
                    FrameJson.Write(jsonWriter, n, frame, line.ToString());
                    jsonWriter.Flush();
                    stdout.WriteLine(Encoding.UTF8.GetString(jsonStream.GetBuffer(), 0, (int)jsonStream.Length));
                }
                else
                {
                    stdout.Write(FormatTime(frame.TimestampNs));
                    stdout.Write(' ');
                    stdout.WriteLine(line);
                }
            }
        }
        catch (CaptureFormatException ex)
        {
            stdout.Flush();
            stderr.WriteLine($"offloademu decode: {file.Name}: corrupt capture at offset {ex.Offset} after {n} frames: {ex.Message}");
            return 1;
        }
        stdout.Flush();
        return 0;
    }

    /// <summary>HH:MM:SS.uuuuuu in UTC, as tcpdump prints (tcpdump uses local time; run it with TZ=UTC to compare).</summary>
    internal static string FormatTime(long timestampNs)
    {
        long us = timestampNs / 1000;
        long secondsOfDay = (us / 1_000_000) % 86400;
        if (secondsOfDay < 0) secondsOfDay += 86400;
        return $"{secondsOfDay / 3600:00}:{secondsOfDay / 60 % 60:00}:{secondsOfDay % 60:00}.{((us % 1_000_000) + 1_000_000) % 1_000_000:000000}";
    }
}
