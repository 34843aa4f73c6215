using System.Text.Json;
using OffloadEmu.Link.Capture;

namespace OffloadEmu.Cli.Tests;

public class DecodeCommandTests
{
    // Captured from the Linux kernel and scapy between two namespaces by Captures/make-captures.sh:
    // ARP, ICMP echo, IPv4 record-route options, IPv4 and IPv6 fragments, VLAN-tagged frames,
    // ICMPv6 ND/MLD/RS, TCP over IPv4 and IPv6 with data and FIN, RST, UDP, port unreachable,
    // frag-needed, packet-too-big, SACK blocks, ECE/CWR/URG, an unknown option and a bad option length.
    private static readonly string Capture = Path.Combine(AppContext.BaseDirectory, "Captures", "kernel-traffic.pcap");

    private static (int Exit, string[] Lines, string Err) Decode(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = CliApp.Run(args, o, e);
        return (exit, o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries), e.ToString());
    }

    private static string[] Tcpdump(string extraArgs, string file)
    {
        var args = new List<string> { "-nn" };
        args.AddRange(extraArgs.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        args.Add("-r");
        args.Add(file);
        var (exit, stdout, stderr) = Cmd.TryRun("tcpdump", args, new Dictionary<string, string> { ["TZ"] = "UTC" });
        Assert.True(exit == 0, $"tcpdump failed: {stderr}");
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    private static void AssertSameLines(string[] expected, string[] actual)
    {
        Assert.True(expected.Length > 50, $"the reference capture should hold real traffic, tcpdump printed {expected.Length} lines");
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // Field by field: the same words in the same order, so a mismatch names the frame and the field.
            var want = expected[i].Split(' ');
            var got = actual[i].Split(' ');
            for (int f = 0; f < Math.Min(want.Length, got.Length); f++)
            {
                if (want[f] != got[f])
                    Assert.Fail($"frame {i + 1}, field {f + 1}: tcpdump '{want[f]}', decode '{got[f]}'\n tcpdump: {expected[i]}\n decode:  {actual[i]}");
            }
            Assert.True(want.Length == got.Length, $"frame {i + 1}: field count differs\n tcpdump: {expected[i]}\n decode:  {actual[i]}");
        }
    }

    [Fact]
    public void Text_output_matches_tcpdump_field_by_field()
    {
        var (exit, lines, err) = Decode("decode", "-r", Capture);
        Assert.True(exit == 0, err);
        AssertSameLines(Tcpdump("", Capture), lines);
    }

    [Fact]
    public void Absolute_sequence_numbers_match_tcpdump_S()
    {
        var (exit, lines, err) = Decode("decode", "-r", Capture, "-S");
        Assert.True(exit == 0, err);
        AssertSameLines(Tcpdump("-S", Capture), lines);
    }

    [Fact]
    public void Link_level_header_matches_tcpdump_e()
    {
        var (exit, lines, err) = Decode("decode", "-r", Capture, "-e");
        Assert.True(exit == 0, err);
        AssertSameLines(Tcpdump("-e", Capture), lines);
    }

    [Fact]
    public void Count_stops_after_N_frames()
    {
        var (exit, lines, _) = Decode("decode", "-r", Capture, "-c", "5");
        Assert.Equal(0, exit);
        Assert.Equal(5, lines.Length);
        Assert.Equal(Tcpdump("-c 5", Capture), lines);
    }

    [Fact]
    public void Json_output_has_one_object_per_frame_with_decoded_fields()
    {
        var (exit, lines, err) = Decode("decode", "-r", Capture, "--json");
        Assert.True(exit == 0, err);
        Assert.Equal(Tcpdump("", Capture).Length, lines.Length);
        int syns = 0;
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            Assert.True(root.GetProperty("summary").GetString()!.Length > 0);
            if (root.TryGetProperty("tcp", out var tcp) && tcp.GetProperty("flags").GetString() == "Syn"
                && tcp.GetProperty("options").TryGetProperty("ts_val", out _))
            {
                // The kernel's SYNs carry MSS, SACK-permitted, timestamps and window scale, and a valid checksum.
                Assert.True(tcp.GetProperty("checksum_ok").GetBoolean());
                Assert.True(tcp.GetProperty("options").GetProperty("mss").GetInt32() is 1460 or 1440);
                Assert.True(tcp.GetProperty("options").GetProperty("sack_permitted").GetBoolean());
                Assert.Equal(10, tcp.GetProperty("options").GetProperty("wscale").GetInt32());
                syns++;
            }
        }
        Assert.True(syns >= 3, $"expected the kernel's SYNs in the capture, found {syns}");
    }

    [Fact]
    public void Malformed_frames_get_a_marker_and_decoding_goes_on()
    {
        var good = File.ReadAllBytes(Capture);
        var reader = new CaptureReader(good);
        Assert.True(reader.TryRead(out var first));
        Assert.True(reader.TryRead(out var second));
        string path = Path.Combine(Path.GetTempPath(), $"oe-decode-malformed-{Environment.ProcessId}.pcapng");
        try
        {
            using (var fs = File.Create(path))
            using (var w = new PcapNgWriter(fs))
            {
                int ifc = w.AddInterface("test0");
                w.WriteFrame(ifc, 1_000_000_000, first.Data.Span, CaptureDirection.Inbound);
                var ipv4Bad = second.Data.ToArray();
                // An IPv4 ARP-sized frame claiming IPv4 with IHL 3: the IP layer must be reported malformed.
                var bad = new byte[34];
                ipv4Bad.AsSpan(0, 12).CopyTo(bad);
                bad[12] = 0x08; bad[13] = 0x00; bad[14] = 0x43;
                w.WriteFrame(ifc, 2_000_000_000, bad, CaptureDirection.Outbound);
                w.WriteFrame(ifc, 3_000_000_000, new byte[5], CaptureDirection.Outbound);
                w.WriteFrame(ifc, 4_000_000_000, second.Data.Span, CaptureDirection.Inbound);
            }
            var (exit, lines, err) = Decode("decode", "-r", path);
            Assert.True(exit == 0, err);
            Assert.Equal(4, lines.Length);
            Assert.Contains("[malformed ipv4: BadHeaderLength]", lines[1]);
            Assert.Contains("[malformed ethernet: Truncated]", lines[2]);
            Assert.DoesNotContain("malformed", lines[3]);
            Assert.StartsWith("00:00:04.000000 ", lines[3]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Control_messages_on_a_second_interface_print_one_summary_line_each_between_the_frames()
    {
        var reader = new CaptureReader(File.ReadAllBytes(Capture));
        Assert.True(reader.TryRead(out var first));
        string path = Path.Combine(Path.GetTempPath(), $"oe-decode-control-{Environment.ProcessId}.pcapng");
        try
        {
            // As the daemon writes them: an InitiateOffload (type 6, request id 3, 297 payload bytes) cut after 40 bytes,
            // a whole HelloReply, and an exported PDU of some other dissector.
            var initiate = new byte[16 + 297];
            BitConverter.TryWriteBytes(initiate.AsSpan(0, 4), 297);
            BitConverter.TryWriteBytes(initiate.AsSpan(4, 2), (ushort)6);
            BitConverter.TryWriteBytes(initiate.AsSpan(8, 8), 3UL);
            var reply = new byte[16];
            BitConverter.TryWriteBytes(reply.AsSpan(4, 2), (ushort)64);
            BitConverter.TryWriteBytes(reply.AsSpan(8, 8), 1UL);
            var initiateRecord = OffloadEmu.Control.ExportedPdu.Wrap(2, fromClient: true, initiate);
            using (var fs = File.Create(path))
            using (var w = new PcapNgWriter(fs))
            {
                int eth = w.AddInterface("tap0");
                int control = w.AddInterface("offloademu-control", OffloadEmu.Control.ExportedPdu.LinkType);
                w.WriteRecord(control, 1_000_000_000, initiateRecord.AsSpan(0, OffloadEmu.Control.ExportedPdu.HeaderLength + 40), initiateRecord.Length, CaptureDirection.Inbound);
                w.WriteFrame(eth, 2_000_000_000, first.Data.Span, CaptureDirection.Inbound);
                w.WriteFrame(control, 3_000_000_000, OffloadEmu.Control.ExportedPdu.Wrap(2, fromClient: false, reply), CaptureDirection.Outbound);
                w.WriteFrame(control, 4_000_000_000, [0, 12, 0, 4, (byte)'h', (byte)'t', (byte)'t', (byte)'p', 0, 0, 0, 0, 1, 2, 3], CaptureDirection.Outbound);
            }
            var (exit, lines, err) = Decode("decode", "-r", path);
            Assert.True(exit == 0, err);
            Assert.Equal(4, lines.Length);
            Assert.Equal("00:00:01.000000 control session 2 C->S InitiateOffload id=3 297 bytes", lines[0]);
            Assert.Equal(Decode("decode", "-r", Capture, "-c", "1").Lines[0][16..], lines[1][16..]);
            Assert.Equal("00:00:03.000000 control session 2 S->C HelloReply id=1 0 bytes", lines[2]);
            Assert.Equal("00:00:04.000000 [exported PDU, not an offloademu control message]", lines[3]);

            var (jsonExit, json, jsonErr) = Decode("decode", "-r", path, "--json");
            Assert.True(jsonExit == 0, jsonErr);
            using var doc = JsonDocument.Parse(json[0]);
            Assert.Equal("control session 2 C->S InitiateOffload id=3 297 bytes", doc.RootElement.GetProperty("summary").GetString());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Corrupt_file_stops_with_a_clear_error_and_exit_code_1()
    {
        var good = File.ReadAllBytes(Capture);
        string path = Path.Combine(Path.GetTempPath(), $"oe-decode-corrupt-{Environment.ProcessId}.pcap");
        try
        {
            // Cut the file in the middle of the third record.
            var reader = new CaptureReader(good);
            reader.TryRead(out _); reader.TryRead(out _);
            int cut = (int)reader.Position + 20;
            File.WriteAllBytes(path, good.AsSpan(0, cut).ToArray());
            var (exit, lines, err) = Decode("decode", "-r", path);
            Assert.Equal(1, exit);
            Assert.Equal(2, lines.Length);
            Assert.Contains("corrupt capture at offset", err);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Missing_file_is_a_clear_error()
    {
        var (exit, _, err) = Decode("decode", "-r", "/nonexistent/x.pcap");
        Assert.Equal(2, exit);
        Assert.Contains("no such file", err);
    }
}
